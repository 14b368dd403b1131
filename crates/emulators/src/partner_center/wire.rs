//! How the emulator's resources look on the wire (spec §1.3–§1.5, §3–§6): camelCase names,
//! `links` and `attributes` on every resource, the collection envelope, the ApiFault body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::world::{AzureEntitlement, Customer, Family, Reseller, Subscription, User};
use crate::faults::Faults;

/// An ApiFault body, with the code as a number as the service sends it.
pub fn fault(status: StatusCode, code: u32, description: &str) -> Response {
    Fault::new(status, code, description).into_response()
}

/// A failed request, answered as an ApiFault.
#[derive(Debug)]
pub struct Fault {
    status: StatusCode,
    code: u32,
    description: String,
}

impl Fault {
    pub fn new(status: StatusCode, code: u32, description: &str) -> Self {
        Fault {
            status,
            code,
            description: description.to_owned(),
        }
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code, "description": self.description, "data": [], "source": "PartnerFD" });
        (self.status, Json(body)).into_response()
    }
}

/// The route a path belongs to, with ids replaced, for the request counters.
pub fn route_name(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let after = i
                .checked_sub(1)
                .and_then(|j| parts.get(j))
                .copied()
                .unwrap_or("");
            if matches!(
                after,
                "customers" | "subscriptions" | "users" | "azureEntitlements"
            ) {
                "{id}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The customer a path is about, for per-customer throttling.
pub fn customer_in_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/customers/")?;
    let id = rest.split('/').next().filter(|id| !id.is_empty())?;
    Some(id.to_ascii_lowercase())
}

/// Renders resources with the options that change their look.
pub struct Render {
    without_v1: bool,
    mixed_case: bool,
}

impl Render {
    pub fn new(faults: &Faults) -> Self {
        Render {
            without_v1: faults.next_links_without_v1,
            mixed_case: faults.mixed_case_enums,
        }
    }

    /// An enum value: snake case, or PascalCase when other casings are asked for.
    fn enum_value(&self, value: &str) -> String {
        if !self.mixed_case {
            return value.to_owned();
        }
        value
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// A collection's own link or its next link: with `/v1`, or without when asked.
    pub fn list_uri(&self, path_and_query: &str) -> String {
        if self.without_v1 {
            path_and_query.to_owned()
        } else {
            format!("/v1{path_and_query}")
        }
    }

    /// The collection envelope (§1.5) around `items`, with the continuation token and a
    /// `next` link carrying it while more remain.
    pub fn collection<T: Serialize>(
        &self,
        items: Vec<T>,
        self_uri: &str,
        next: Option<(String, String)>,
    ) -> Collection<T> {
        let (next_link, continuation_token) = match next {
            Some((uri, token)) => (
                Some(Link {
                    uri: self.list_uri(&uri),
                    method: "GET",
                    headers: vec![HeaderPair {
                        key: "MS-ContinuationToken",
                        value: token.clone(),
                    }],
                }),
                Some(token),
            ),
            None => (None, None),
        };
        Collection {
            total_count: items.len(),
            items,
            continuation_token,
            links: CollectionLinks {
                this: Link::get(self.list_uri(self_uri)),
                next: next_link,
            },
            attributes: Attributes {
                object_type: "Collection",
            },
        }
    }

    /// A customer as lists show it: id, a reduced company profile, the relationship. Typed
    /// rather than built as JSON values: lists of customers are the emulator's busiest answer.
    pub fn customer_item<'c>(&self, c: &'c Customer) -> CustomerItem<'c> {
        CustomerItem {
            id: &c.id,
            company_profile: CompanyProfileItem {
                tenant_id: &c.id,
                domain: &c.domain,
                company_name: &c.company_name,
                links: SelfLink {
                    this: Link::get(format!("/customers/{}/profiles/company", c.id)),
                },
                attributes: Attributes {
                    object_type: "CustomerCompanyProfile",
                },
            },
            relationship_to_partner: self.enum_value("reseller"),
            links: SelfLink {
                this: Link::get(format!("/customers/{}", c.id)),
            },
            attributes: Attributes {
                object_type: "Customer",
            },
        }
    }

    /// A customer by id: everything, less what needs delegated access when there is none.
    pub fn customer(&self, c: &Customer) -> Value {
        let mut value = json!(self.customer_item(c));
        value["commerceId"] = json!(c.commerce_id);
        value["companyProfile"] = self.company_profile(c);
        value["billingProfile"] = self.billing_profile(c);
        value["allowDelegatedAccess"] = json!(c.allow_delegated_access);
        if c.allow_delegated_access {
            value["customDomains"] = json!(c.custom_domains);
        }
        if let Some(reseller) = &c.associated_partner_id {
            value["associatedPartnerId"] = json!(reseller);
        }
        value
    }

    pub fn company_profile(&self, c: &Customer) -> Value {
        let mut value = json!({
            "tenantId": c.id,
            "domain": c.domain,
            "companyName": c.company_name,
            "links": { "self": link(&format!("/customers/{}/profiles/company", c.id)) },
            "attributes": { "objectType": "CustomerCompanyProfile" },
        });
        if c.allow_delegated_access {
            value["address"] = json!(c.address);
            value["email"] = json!(c.email);
        }
        value
    }

    pub fn billing_profile(&self, c: &Customer) -> Value {
        let mut value = json!(c.billing_profile);
        value["links"] = json!({ "self": link(&format!("/customers/{}/profiles/billing", c.id)) });
        value["attributes"] =
            json!({ "etag": etag(&c.billing_profile.id), "objectType": "CustomerBillingProfile" });
        value
    }

    pub fn subscription(&self, c: &Customer, s: &Subscription) -> Value {
        let mut value = json!({
            "id": s.id,
            "offerId": s.offer_id,
            "offerName": s.offer_name,
            "friendlyName": s.friendly_name,
            "quantity": s.quantity,
            "unitType": if matches!(s.family, Family::LegacyAzure | Family::AzurePlan) { "Usage-based" } else { "Licenses" },
            "creationDate": s.creation_date,
            "effectiveStartDate": s.effective_start_date,
            "commitmentEndDate": s.commitment_end_date,
            "status": self.enum_value(&s.status),
            "autoRenewEnabled": s.auto_renew_enabled,
            "isTrial": s.is_trial,
            "billingType": if matches!(s.family, Family::LegacyAzure | Family::AzurePlan) { "usage" } else { "license" },
            "billingCycle": self.enum_value(&s.billing_cycle),
            "partnerId": s.partner_id,
            "contractType": "subscription",
            "orderId": s.order_id,
            "attentionNeeded": false,
            "links": { "self": link(&format!("/customers/{}/subscriptions/{}", c.id, s.id)) },
            "attributes": { "objectType": "Subscription" },
        });
        let product = s.offer_id.split(':').next().unwrap_or_default();
        match s.family {
            Family::NewCommerce | Family::AzurePlan => {
                let kind = if s.family == Family::AzurePlan {
                    "Azure"
                } else {
                    "OnlineServicesNCE"
                };
                value["productType"] = json!({ "id": kind, "displayName": kind });
                value["isMicrosoftProduct"] = json!(true);
                value["publisherName"] = json!("Microsoft Corporation");
                value["links"]["product"] = link(&format!("/products/{product}?country=US"));
            }
            Family::LegacyOffice | Family::LegacyAzure | Family::AddOn => {
                value["links"]["offer"] = link(&format!("/offers/{}?country=US", s.offer_id));
                value["attributes"]["etag"] = json!(etag(&s.id));
            }
        }
        if let Some(term) = &s.term_duration {
            value["termDuration"] = json!(term);
            value["renewalTermDuration"] = json!("");
        }
        if let Some(until) = &s.cancellation_allowed_until_date {
            value["cancellationAllowedUntilDate"] = json!(until);
            value["refundOptions"] = json!([{ "type": "Full", "expiresAt": until }]);
            value["commitmentEndDateTime"] =
                json!(s.commitment_end_date.replace("T00:00:00Z", "T23:59:59Z"));
        }
        if let Some(parent) = &s.parent_subscription_id {
            value["parentSubscriptionId"] = json!(parent);
            value["links"]["parentSubscription"] =
                link(&format!("/customers/{}/subscriptions/{parent}", c.id));
        }
        if let Some(entitlement) = &s.entitlement_id {
            value["entitlementId"] = json!(entitlement);
        }
        value
    }

    pub fn entitlement(&self, c: &Customer, s: &Subscription, e: &AzureEntitlement) -> Value {
        json!({
            "id": e.id,
            "friendlyName": e.friendly_name,
            "status": self.enum_value(&e.status),
            "subscriptionId": s.id,
            "links": { "self": link(&format!("/customers/{}/subscriptions/{}/azureEntitlements/{}", c.id, s.id, e.id)) },
        })
    }

    pub fn user(&self, c: &Customer, u: &User) -> Value {
        let mut value = json!({
            "id": u.id,
            "userPrincipalName": u.user_principal_name,
            "firstName": u.first_name,
            "lastName": u.last_name,
            "displayName": u.display_name,
            "userDomainType": self.enum_value("none"),
            "state": self.enum_value(&u.state),
            "links": { "self": link(&format!("/customers/{}/users/{}", c.id, u.id)) },
            "attributes": { "objectType": "CustomerUser" },
        });
        if let Some(location) = &u.usage_location {
            value["usageLocation"] = json!(location);
        }
        if let Some(deleted) = &u.soft_deletion_time {
            value["softDeletionTime"] = json!(deleted);
        }
        value
    }

    pub fn relationship(&self, r: &Reseller, with_location: bool) -> Value {
        let mut value = json!({
            "id": r.id,
            "name": r.name,
            "relationshipType": self.enum_value("is_indirect_cloud_solution_provider_of"),
            "mpnId": r.mpn_id,
            "attributes": { "objectType": "PartnerRelationship" },
        });
        if with_location {
            value["state"] = json!(r.state);
            value["location"] = json!(r.location);
        }
        value
    }
}

pub fn link(uri: &str) -> Value {
    json!({ "uri": uri, "method": "GET", "headers": [] })
}

#[derive(Serialize)]
pub struct Link {
    uri: String,
    method: &'static str,
    headers: Vec<HeaderPair>,
}

impl Link {
    fn get(uri: String) -> Self {
        Link {
            uri,
            method: "GET",
            headers: Vec::new(),
        }
    }
}

#[derive(Serialize)]
pub struct HeaderPair {
    key: &'static str,
    value: String,
}

#[derive(Serialize)]
pub struct Attributes {
    #[serde(rename = "objectType")]
    object_type: &'static str,
}

#[derive(Serialize)]
pub struct SelfLink {
    #[serde(rename = "self")]
    this: Link,
}

#[derive(Serialize)]
pub struct CollectionLinks {
    #[serde(rename = "self")]
    this: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<Link>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection<T> {
    total_count: usize,
    items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
    links: CollectionLinks,
    attributes: Attributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyProfileItem<'c> {
    tenant_id: &'c str,
    domain: &'c str,
    company_name: &'c str,
    links: SelfLink,
    attributes: Attributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerItem<'c> {
    id: &'c str,
    company_profile: CompanyProfileItem<'c>,
    relationship_to_partner: String,
    links: SelfLink,
    attributes: Attributes,
}

/// An opaque etag, stable for a record.
fn etag(id: &str) -> String {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("-{}", hash >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_without_ids() {
        assert_eq!(
            route_name("/v1/customers/abc/subscriptions/def/azureEntitlements"),
            "/v1/customers/{id}/subscriptions/{id}/azureEntitlements"
        );
        assert_eq!(
            customer_in_path("/v1/customers/ABC/users"),
            Some("abc".into())
        );
        assert_eq!(customer_in_path("/v1/customers"), None);
    }
}
