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

/// Which edition a Partner Center subscription's offer is (docs/import-customers.md): the
/// edition mapped to the exact offer id; else, for a new-commerce `PRODUCT:SKU:AVAILABILITY`,
/// the edition mapped to its `PRODUCT:SKU`; else the edition mapped to another availability of
/// the same product and SKU, when only one is. `mappings` are the catalog's active mappings.
pub fn match_offer(offer: &OfferId, mappings: &[(OfferId, i64)]) -> OfferMatch {
    let editions = |wanted: &dyn Fn(&str) -> bool| -> Vec<i64> {
        let mut found: Vec<i64> = mappings
            .iter()
            .filter(|(o, _)| wanted(o.as_str()))
            .map(|(_, e)| *e)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    };
    let exact = editions(&|o| o == offer.as_str());
    let parts: Vec<&str> = offer.as_str().split(':').collect();
    let found = match (exact.as_slice(), parts.as_slice()) {
        ([], [product, sku, _]) => {
            let sku_of = format!("{product}:{sku}");
            match editions(&|o| o == sku_of).as_slice() {
                [] => editions(&|o| {
                    o.strip_prefix(sku_of.as_str())
                        .and_then(|rest| rest.strip_prefix(':'))
                        .is_some_and(|availability| !availability.contains(':'))
                }),
                found => found.to_vec(),
            }
        }
        _ => exact,
    };
    match found.as_slice() {
        [] => OfferMatch::NotMapped,
        [edition] => OfferMatch::Edition(*edition),
        several => OfferMatch::Ambiguous(several.to_vec()),
    }
}

/// What [`match_offer`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferMatch {
    Edition(i64),
    /// `OFFER_NOT_MAPPED`: no active edition is mapped to it.
    NotMapped,
    /// `OFFER_AMBIGUOUS`: several editions could be it.
    Ambiguous(Vec<i64>),
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

    #[test]
    fn offers_match_exactly_then_by_product_and_sku() {
        let id = |s: &str| OfferId::parse(s).expect("offer id");
        let catalog = [
            (id("91FD106F-4B2C-4938-95AC-F54F74E9A239"), 1),
            (id("CFQ7TTC0LH18:0001:CFQ7TTC0K971"), 2),
            (id("CFQ7TTC0LH18:0001"), 3),
            (id("CFQ7TTC0LF8Q:0001:AAAA"), 4),
            (id("CFQ7TTC0LF8Q:0002:BBBB"), 5),
            (id("CFQ7TTC0HX99:0001:CCCC"), 6),
            (id("CFQ7TTC0HX99:0001:DDDD"), 7),
            (id("MS-AZR-0145P"), 8),
        ];
        let cases = [
            (
                "91fd106f-4b2c-4938-95ac-f54f74e9a239",
                OfferMatch::Edition(1),
            ),
            ("CFQ7TTC0LH18:0001:CFQ7TTC0K971", OfferMatch::Edition(2)),
            ("CFQ7TTC0LH18:0001:CFQ7TTC0K972", OfferMatch::Edition(3)),
            ("CFQ7TTC0LF8Q:0001:ZZZZ", OfferMatch::Edition(4)),
            ("CFQ7TTC0HX99:0001:EEEE", OfferMatch::Ambiguous(vec![6, 7])),
            ("CFQ7TTC0HX99:0002:EEEE", OfferMatch::NotMapped),
            ("MS-AZR-0145P", OfferMatch::Edition(8)),
            (
                "AAAAAAAA-0000-0000-0000-000000000000",
                OfferMatch::NotMapped,
            ),
        ];
        for (offer, expected) in cases {
            assert_eq!(match_offer(&id(offer), &catalog), expected, "{offer}");
        }
    }
}
