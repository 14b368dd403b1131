use crate::{ParseError, text_enum};

text_enum! {
    /// How an edition's subscriptions reach the vendor (docs/datasets.md).
    Connector, "connector" {
        None = "none",
        Webhook = "webhook",
        Microsoft = "microsoft",
    }
}

text_enum! {
    /// What an edition is priced by.
    PricingUnit, "pricing unit" {
        User = "USER",
        Unit = "UNIT",
        Device = "DEVICE",
        Flat = "FLAT",
    }
}

/// A Microsoft offer id, such as `CFQ7TTC0LF8Q:0001` (new commerce) or a legacy GUID, compared
/// without regard to case, so it is kept upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(String);

impl OfferId {
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let id = value.trim().to_ascii_uppercase();
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-:_.".contains(&b));
        if valid {
            Ok(OfferId(id))
        } else {
            Err(ParseError::new("offer id", value))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub vendor: String,
}

/// An edition of a product as it is about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEdition {
    pub product_id: i64,
    pub code: String,
    pub name: String,
    /// The pricing plan id that datasets call `EDITION_PRICING_UUID`.
    pub pricing_plan_id: String,
    pub channel_sku: Option<String>,
    pub pricing_unit: PricingUnit,
    pub included_units: i64,
    /// Allowed billing cycles, such as `MONTHLY` or `ANNUAL`.
    pub billing_cycles: Vec<String>,
    /// Allowed commitment terms, such as `P1M` or `P1Y`.
    pub terms: Vec<String>,
    pub connector: Connector,
    /// The Microsoft offers this edition stands for; each maps to one active edition only.
    pub offer_ids: Vec<OfferId>,
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_ids_compare_without_case() {
        assert_eq!(
            OfferId::parse(" cfq7ttc0lf8q:0001"),
            OfferId::parse("CFQ7TTC0LF8Q:0001")
        );
        assert!(OfferId::parse("").is_err());
        assert!(OfferId::parse("a b").is_err());
    }
}
