//! Undoing a dataset (docs/datasets.md): what it created and nobody changed since is removed,
//! what it updated and nobody changed since gets its former values back. Links it created
//! (memberships, reseller associations, seats, tenant links) are removed. A record still used by
//! something the dataset did not create stays.
//!
//! Each statement says what its rows are, so the undo can say what it removed and restored;
//! `KEPT` counts what stays of what the dataset created or updated.
//!
//! Parameters: `$1` the dataset, `$2` its marketplace, `$3` when its activation ended.
//! `{get:key}` reads a key of the stored former values (`d.before`).

/// What a statement does to the rows it touches.
#[derive(Clone, Copy)]
pub(crate) enum Effect {
    Removed,
    Restored,
}

pub(crate) const STATEMENTS: &[(Effect, &str, &str)] = &[
    (Effect::Removed, "seats", "DELETE FROM seat_assignments WHERE origin_ref = $1
        AND subscription_id IN (SELECT id FROM subscriptions WHERE marketplace_id = $2)"),
    (Effect::Removed, "tenant links", "DELETE FROM tenant_links WHERE origin_ref = $1 AND marketplace_id = $2"),
    (Effect::Removed, "subscriptions", "DELETE FROM subscriptions WHERE marketplace_id = $2 AND origin_kind = 'dataset'
        AND origin_ref = $1 AND updated_at <= $3"),
    (Effect::Removed, "reseller associations", "DELETE FROM reseller_associations WHERE origin_ref = $1
        AND company_id IN (SELECT id FROM companies WHERE marketplace_id = $2)"),
    (Effect::Removed, "memberships", "DELETE FROM memberships WHERE origin_ref = $1
        AND company_id IN (SELECT id FROM companies WHERE marketplace_id = $2)"),
    (Effect::Removed, "users", "DELETE FROM users WHERE marketplace_id = $2 AND origin_kind = 'dataset' AND origin_ref = $1
        AND updated_at <= $3
        AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.purchased_by = users.id)"),
    (Effect::Removed, "companies", "DELETE FROM companies WHERE marketplace_id = $2 AND origin_kind = 'dataset' AND origin_ref = $1
        AND updated_at <= $3
        AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.company_id = companies.id)
        AND NOT EXISTS (SELECT 1 FROM reseller_associations r WHERE r.reseller_company_id = companies.id)"),
    (Effect::Restored, "companies", "UPDATE companies SET name = {get:name}, street1 = {get:street1}, street2 = {get:street2},
        city = {get:city}, state = {get:state}, zip = {get:zip}, country = {get:country},
        phone = {get:phone}, email = {get:email}, website = {get:website},
        billing_street1 = {get:billing_street1}, billing_street2 = {get:billing_street2},
        billing_city = {get:billing_city}, billing_state = {get:billing_state},
        billing_zip = {get:billing_zip}, billing_country = {get:billing_country},
        allow_login = CAST({get:allow_login} AS {bool_type}),
        custom_attributes = CAST({get:custom_attributes} AS {json_type}),
        import_hash = NULL, updated_at = CAST({get:updated_at} AS BIGINT)
     FROM dataset_changes d
     WHERE d.dataset_id = $1 AND d.entity_type = 'company' AND d.entity_id = companies.id
       AND companies.marketplace_id = $2 AND companies.updated_at <= $3"),
    (Effect::Restored, "users", "UPDATE users SET email = {get:email}, first_name = {get:first_name},
        last_name = {get:last_name}, phone = {get:phone}, locale = {get:locale},
        allow_login = CAST({get:allow_login} AS {bool_type}),
        custom_attributes = CAST({get:custom_attributes} AS {json_type}),
        import_hash = NULL, updated_at = CAST({get:updated_at} AS BIGINT)
     FROM dataset_changes d
     WHERE d.dataset_id = $1 AND d.entity_type = 'user' AND d.entity_id = users.id
       AND users.marketplace_id = $2 AND users.updated_at <= $3"),
    (Effect::Restored, "subscriptions", "UPDATE subscriptions SET company_id = CAST({get:company_id} AS BIGINT),
        edition_id = CAST({get:edition_id} AS BIGINT),
        purchased_by = CAST({get:purchased_by} AS BIGINT), units = CAST({get:units} AS BIGINT),
        start_date = CAST({get:start_date} AS {date_type}),
        end_date = CAST({get:end_date} AS {date_type}),
        billing_cycle = {get:billing_cycle}, term = {get:term},
        auto_renew = CAST({get:auto_renew} AS {bool_type}),
        vendor_subscription_id = {get:vendor_subscription_id},
        custom_attributes = CAST({get:custom_attributes} AS {json_type}),
        import_hash = NULL, updated_at = CAST({get:updated_at} AS BIGINT)
     FROM dataset_changes d
     WHERE d.dataset_id = $1 AND d.entity_type = 'subscription' AND d.entity_id = subscriptions.id
       AND subscriptions.marketplace_id = $2 AND subscriptions.updated_at <= $3"),
];

/// What stays, per kind: records the dataset created that are still here (changed since, or
/// used by something it did not create), and records it updated that were changed since.
pub(crate) const KEPT: &[(&str, &str)] = &[
    (
        "companies",
        "SELECT (SELECT count(*) FROM companies WHERE marketplace_id = $2
        AND origin_kind = 'dataset' AND origin_ref = $1)
      + (SELECT count(*) FROM dataset_changes d JOIN companies c ON c.id = d.entity_id
        WHERE d.dataset_id = $1 AND d.entity_type = 'company' AND c.updated_at > $3)",
    ),
    (
        "users",
        "SELECT (SELECT count(*) FROM users WHERE marketplace_id = $2
        AND origin_kind = 'dataset' AND origin_ref = $1)
      + (SELECT count(*) FROM dataset_changes d JOIN users u ON u.id = d.entity_id
        WHERE d.dataset_id = $1 AND d.entity_type = 'user' AND u.updated_at > $3)",
    ),
    (
        "subscriptions",
        "SELECT (SELECT count(*) FROM subscriptions WHERE marketplace_id = $2
        AND origin_kind = 'dataset' AND origin_ref = $1)
      + (SELECT count(*) FROM dataset_changes d JOIN subscriptions s ON s.id = d.entity_id
        WHERE d.dataset_id = $1 AND d.entity_type = 'subscription' AND s.updated_at > $3)",
    ),
];
