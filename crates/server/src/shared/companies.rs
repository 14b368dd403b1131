//! Editing a company, the same from a page form and from the API: the fields as typed, checked
//! into the company to store, and what changed for the audit log.

use std::collections::BTreeMap;

use ferry_domain::{Address, CompanyStatus, CountryCode, Email, NewCompany, Origin};
use ferry_storage::Company;
use serde::Deserialize;
use serde_json::json;

/// The fields of the company form, as typed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct CompanyForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub external_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub street1: String,
    #[serde(default)]
    pub street2: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub zip: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub allow_login: bool,
}

impl CompanyForm {
    pub fn from_company(c: &Company) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        CompanyForm {
            name: c.name.clone(),
            external_id: text(&c.external_id),
            email: text(&c.email),
            phone: text(&c.phone),
            website: text(&c.website),
            status: c.status.as_str().into(),
            street1: text(&c.street1),
            street2: text(&c.street2),
            city: text(&c.city),
            state: text(&c.state),
            zip: text(&c.zip),
            country: text(&c.country),
            allow_login: c.allow_login,
        }
    }

    /// The company the form describes, on top of `base` (which keeps what the form does not
    /// show, and its custom attributes unless `attributes` replaces them), or the first
    /// problem in words.
    pub fn apply(
        &self,
        base: NewCompany,
        attributes: Option<BTreeMap<String, String>>,
    ) -> Result<NewCompany, String> {
        let optional = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let name = self.name.trim();
        if name.is_empty() {
            return Err("The company needs a name.".into());
        }
        let email = optional(&self.email)
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|_| format!("'{}' is not a valid email address.", self.email.trim()))?;
        let country = optional(&self.country)
            .map(|c| CountryCode::parse(&c))
            .transpose()
            .map_err(|_| {
                format!(
                    "'{}' is not an ISO 3166 country code (two letters, such as DE or US).",
                    self.country.trim()
                )
            })?;
        let status = match optional(&self.status) {
            Some(s) => s
                .parse()
                .map_err(|_| format!("'{s}' is not a company status."))?,
            None => base.status,
        };
        let company = NewCompany {
            external_id: optional(&self.external_id),
            name: name.to_owned(),
            address: Address {
                street1: optional(&self.street1),
                street2: optional(&self.street2),
                city: optional(&self.city),
                state: optional(&self.state),
                zip: optional(&self.zip),
                country,
            },
            phone: optional(&self.phone),
            email,
            website: optional(&self.website),
            allow_login: self.allow_login,
            status,
            custom_attributes: attributes.unwrap_or(base.custom_attributes),
            ..base
        };
        company.check_text().map_err(|e| format!("The {e}."))?;
        Ok(company)
    }

    /// What changed between two versions of the form, for the audit log.
    pub fn changes(&self, new: &CompanyForm) -> serde_json::Value {
        let (old, new) = (json!(self), json!(new));
        let mut changed = serde_json::Map::new();
        if let (Some(old), Some(new)) = (old.as_object(), new.as_object()) {
            for (field, value) in new {
                if old.get(field) != Some(value) {
                    changed.insert(field.clone(), json!({ "from": old[field], "to": value }));
                }
            }
        }
        serde_json::Value::Object(changed)
    }
}

/// A company record as the base of an edit: keeps its billing address, attributes and origin.
pub fn stored_as_new(c: &Company) -> NewCompany {
    let billing = Address {
        street1: c.billing_street1.clone(),
        street2: c.billing_street2.clone(),
        city: c.billing_city.clone(),
        state: c.billing_state.clone(),
        zip: c.billing_zip.clone(),
        country: c
            .billing_country
            .as_deref()
            .and_then(|x| CountryCode::parse(x).ok()),
    };
    NewCompany {
        billing_address: (billing != Address::default()).then_some(billing),
        custom_attributes: c.custom_attributes.clone(),
        status: c.status,
        ..NewCompany::named(c.name.clone(), c.origin().unwrap_or(Origin::Manual))
    }
}

/// Whether a change takes a company out of *pending*, which needs
/// [`Permission::ManagePendingCompanies`](ferry_domain::Permission::ManagePendingCompanies).
pub fn leaves_pending(before: &Company, after: &NewCompany) -> bool {
    before.status == CompanyStatus::Pending && after.status != CompanyStatus::Pending
}
