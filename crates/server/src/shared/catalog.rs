//! Products and editions as typed — on the catalog page, in the API — checked into what the
//! catalog stores, with the Microsoft offer ids an edition stands for.

use ferry_domain::{Connector, NewEdition, NewProduct, OfferId, PricingUnit};
use serde::Deserialize;
use utoipa::ToSchema;

/// A new product.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProductIn {
    pub name: String,
    /// Microsoft when not given.
    #[serde(default)]
    pub vendor: Option<String>,
}

impl ProductIn {
    pub fn product(&self) -> Result<NewProduct, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("A product needs a name.".into());
        }
        Ok(NewProduct {
            name: name.to_owned(),
            vendor: self
                .vendor
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .unwrap_or("Microsoft")
                .to_owned(),
        })
    }
}

/// A new edition of a product.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EditionIn {
    /// Unique within the product.
    pub code: String,
    pub name: String,
    /// The Microsoft offer ids it stands for: a legacy GUID, `MS-AZR-0145P`, a new-commerce
    /// `PRODUCT:SKU` or `PRODUCT:SKU:AVAILABILITY`.
    #[serde(default)]
    pub offer_ids: Vec<String>,
    /// USER (the default), UNIT, DEVICE or FLAT.
    #[serde(default)]
    pub pricing_unit: Option<String>,
    #[serde(default)]
    pub included_units: Option<i64>,
    /// The pricing plan id datasets name (`EDITION_PRICING_UUID`); the code when not given.
    #[serde(default)]
    pub pricing_plan_id: Option<String>,
}

impl EditionIn {
    pub fn edition(&self, product_id: i64) -> Result<NewEdition, String> {
        let (code, name) = (self.code.trim(), self.name.trim());
        if code.is_empty() || name.is_empty() {
            return Err("An edition needs a code and a name.".into());
        }
        let pricing_unit = match self.pricing_unit.as_deref().map(str::trim) {
            None | Some("") => PricingUnit::User,
            Some(unit) => unit.to_ascii_uppercase().parse().map_err(|_| {
                format!("'{unit}' is not a pricing unit: USER, UNIT, DEVICE or FLAT.")
            })?,
        };
        let included_units = self.included_units.unwrap_or(0);
        if included_units < 0 {
            return Err("Included units cannot be negative.".into());
        }
        let offer_ids = offers(&self.offer_ids)?;
        Ok(NewEdition {
            product_id,
            code: code.to_owned(),
            name: name.to_owned(),
            pricing_plan_id: self
                .pricing_plan_id
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .unwrap_or(code)
                .to_owned(),
            channel_sku: None,
            pricing_unit,
            included_units,
            billing_cycles: Vec::new(),
            terms: Vec::new(),
            connector: if offer_ids.is_empty() {
                Connector::None
            } else {
                Connector::Microsoft
            },
            offer_ids,
            active: true,
        })
    }
}

/// Offer ids as typed (blank ones ignored), or which one is not an offer id.
pub fn offers(typed: &[String]) -> Result<Vec<OfferId>, String> {
    typed
        .iter()
        .flat_map(|t| t.split([',', ' ', '\n']))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            OfferId::parse(t).map_err(|_| {
                format!(
                    "'{t}' is not an offer id: a GUID, MS-AZR-0145P or PRODUCT:SKU[:AVAILABILITY]."
                )
            })
        })
        .collect()
}

/// The sentence for a catalog write the store refused as a conflict.
pub fn conflict(key: &str) -> String {
    match key {
        k if k.starts_with("offer id mapping") => {
            "An offer id maps to one active edition: another edition has one of these.".into()
        }
        "edition code" => "The product has an edition with this code already.".into(),
        "edition pricing plan id" => "Another edition has this pricing plan id.".into(),
        "product name" => "A product has this name already.".into(),
        other => format!("Another record has this {other}."),
    }
}
