//! Activation (docs/datasets.md): the staged rows of one type and one range of lines become
//! marketplace records, set-based. Each range runs in one transaction with the job's checkpoint,
//! and every statement is safe to run twice: a row's outcome is decided once (created, updated,
//! unchanged), rows are inserted only where their key is still free, and updates only touch what
//! differs. Empty cells keep the stored value.
//!
//! Parameters: `$1` the dataset, `$2` its marketplace, `$3`..`$4` the lines, `$5` now.
//! Placeholders filled per backend: `{distinct}` (`IS NOT` / `IS DISTINCT FROM`), `{json_type}`
//! (the type custom attributes are stored as), `{date_type}` (the type of dates) and
//! `{json_object}` (the JSON object builder).

use super::rules::edition_match;

pub(crate) struct TypeApply {
    pub data_type: &'static str,
    /// The first decides each row's outcome; the others apply the decided rows.
    pub statements: &'static [&'static str],
}

impl TypeApply {
    pub fn decide(&self) -> &'static str {
        self.statements[0]
    }

    pub fn apply(&self) -> &'static [&'static str] {
        &self.statements[1..]
    }
}

/// The rows of the range still to decide.
macro_rules! undecided {
    () => {
        " WHERE s.dataset_id = $1 AND s.line BETWEEN $3 AND $4 AND NOT s.rejected AND s.outcome IS NULL"
    };
}

/// The rows of the range with a given outcome.
macro_rules! decided {
    ($outcome:literal) => {
        concat!(
            " s.dataset_id = $1 AND s.line BETWEEN $3 AND $4 AND s.outcome = '",
            $outcome,
            "'"
        )
    };
}

macro_rules! company_differs {
    () => {
        "(s.name {distinct} c.name
          OR (s.street1 IS NOT NULL AND s.street1 {distinct} c.street1)
          OR (s.street2 IS NOT NULL AND s.street2 {distinct} c.street2)
          OR (s.city IS NOT NULL AND s.city {distinct} c.city)
          OR (s.state IS NOT NULL AND s.state {distinct} c.state)
          OR (s.zip IS NOT NULL AND s.zip {distinct} c.zip)
          OR (s.country IS NOT NULL AND s.country {distinct} c.country)
          OR (s.phone IS NOT NULL AND s.phone {distinct} c.phone)
          OR (s.email IS NOT NULL AND s.email {distinct} c.email)
          OR (s.website IS NOT NULL AND s.website {distinct} c.website)
          OR (s.billing_street1 IS NOT NULL AND s.billing_street1 {distinct} c.billing_street1)
          OR (s.billing_street2 IS NOT NULL AND s.billing_street2 {distinct} c.billing_street2)
          OR (s.billing_city IS NOT NULL AND s.billing_city {distinct} c.billing_city)
          OR (s.billing_state IS NOT NULL AND s.billing_state {distinct} c.billing_state)
          OR (s.billing_zip IS NOT NULL AND s.billing_zip {distinct} c.billing_zip)
          OR (s.billing_country IS NOT NULL AND s.billing_country {distinct} c.billing_country)
          OR (s.allow_login = '1') {distinct} c.allow_login
          OR (s.custom IS NOT NULL AND CAST(s.custom AS {json_type}) {distinct} c.custom_attributes))"
    };
}

/// The fields of a user that undo restores and History compares, as JSON text.
macro_rules! user_values {
    () => {
        "CAST({json_object}('email', u.email, 'first_name', u.first_name,
            'last_name', u.last_name, 'phone', u.phone, 'locale', u.locale,
            'allow_login', u.allow_login, 'custom_attributes', u.custom_attributes,
            'updated_at', u.updated_at) AS TEXT)"
    };
}

/// The fields of a company that undo restores and History compares, as JSON text.
macro_rules! company_values {
    () => {
        "CAST({json_object}('name', c.name, 'street1', c.street1,
            'street2', c.street2, 'city', c.city, 'state', c.state, 'zip', c.zip,
            'country', c.country, 'phone', c.phone, 'email', c.email, 'website', c.website,
            'billing_street1', c.billing_street1, 'billing_street2', c.billing_street2,
            'billing_city', c.billing_city, 'billing_state', c.billing_state,
            'billing_zip', c.billing_zip, 'billing_country', c.billing_country,
            'allow_login', c.allow_login, 'custom_attributes', c.custom_attributes,
            'updated_at', c.updated_at) AS TEXT)"
    };
}

/// After the update of a range: each changed record's values as the dataset left them, beside
/// the values before, so History can say what the dataset changed.
macro_rules! after_values {
    ($entity:literal, $table:literal, $alias:literal, $values:expr) => {
        concat!(
            "UPDATE dataset_changes SET after_values = (SELECT ",
            $values,
            " FROM ",
            $table,
            " WHERE ",
            $alias,
            ".id = dataset_changes.entity_id)",
            " WHERE dataset_id = $1 AND entity_type = '",
            $entity,
            "' AND after_values IS NULL"
        )
    };
}

macro_rules! user_differs {
    () => {
        "(s.email_address {distinct} u.email
          OR (s.first_name IS NOT NULL AND s.first_name {distinct} u.first_name)
          OR (s.last_name IS NOT NULL AND s.last_name {distinct} u.last_name)
          OR (s.phone IS NOT NULL AND s.phone {distinct} u.phone)
          OR (s.locale IS NOT NULL AND s.locale {distinct} u.locale)
          OR (s.is_allow_login_user = '1') {distinct} u.allow_login
          OR (s.custom IS NOT NULL AND CAST(s.custom AS {json_type}) {distinct} u.custom_attributes))"
    };
}

macro_rules! membership_differs {
    () => {
        "((s.sys_admin = '1') {distinct} m.company_admin
          OR (s.billing_admin = '1') {distinct} m.billing_admin
          OR (s.sales_support = '1') {distinct} m.sales_support
          OR (s.restricted_sales_support = '1') {distinct} m.restricted_sales_support)"
    };
}

/// The membership a staged row names.
macro_rules! membership_of_row {
    () => {
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id JOIN companies c ON c.id = m.company_id
         WHERE u.marketplace_id = $2 AND u.external_id = s.user_external_id
           AND c.marketplace_id = $2 AND c.external_id = s.company_external_id"
    };
}

/// The edition a staged company entitlement names (validation made it unique).
macro_rules! edition_of_row {
    () => {
        concat!(
            "(SELECT ed.id FROM editions ed WHERE ed.marketplace_id = $2 AND ed.active AND ",
            edition_match!(),
            ")"
        )
    };
}

macro_rules! subscription_differs {
    () => {
        concat!(
            "(c.id {distinct} e.company_id
              OR ", edition_of_row!(), " {distinct} e.edition_id
              OR pu.id {distinct} e.purchased_by
              OR CAST(s.units AS BIGINT) {distinct} e.units
              OR (s.start_date IS NOT NULL AND CAST(s.start_date AS {date_type}) {distinct} e.start_date)
              OR (s.end_date IS NOT NULL AND CAST(s.end_date AS {date_type}) {distinct} e.end_date)
              OR (s.billing_cycle IS NOT NULL AND s.billing_cycle {distinct} e.billing_cycle)
              OR (s.term IS NOT NULL AND s.term {distinct} e.term)
              OR (s.auto_renew = '1') {distinct} e.auto_renew
              OR (s.vendor_entitlement_id IS NOT NULL AND s.vendor_entitlement_id {distinct} e.vendor_subscription_id)
              OR (s.custom IS NOT NULL AND CAST(s.custom AS {json_type}) {distinct} e.custom_attributes))"
        )
    };
}

/// The joins that resolve a staged company entitlement's company and purchaser.
macro_rules! entitlement_joins {
    () => {
        " JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.company_external_id
          JOIN users pu ON pu.marketplace_id = $2 AND pu.external_id = s.purchased_by_external_id"
    };
}

pub(crate) const ALL: &[TypeApply] = &[
    TypeApply {
        data_type: "users",
        statements: &[
            concat!(
                "UPDATE stage_users AS s SET outcome = CASE
                    WHEN NOT EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2 AND u.external_id = s.external_id) THEN 'created'
                    WHEN EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2 AND u.external_id = s.external_id AND ",
                user_differs!(),
                ") THEN 'updated' ELSE 'unchanged' END",
                undecided!()
            ),
            // Migrated users get no activation e-mail: they are created, not invited.
            concat!(
                "INSERT INTO users (marketplace_id, external_id, email, first_name, last_name, locale,
                    phone, allow_login, status, custom_attributes, origin_kind, origin_ref, created_at,
                    updated_at, import_hash)
                 SELECT $2, s.external_id, s.email_address, s.first_name, s.last_name, s.locale,
                    s.phone, (s.is_allow_login_user = '1'), 'created', CAST(COALESCE(s.custom, '{}') AS {json_type}),
                    'dataset', $1, $5, $5, s.row_hash
                 FROM stage_users s WHERE",
                decided!("created"),
                " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2 AND u.external_id = s.external_id)
                 ORDER BY s.line"
            ),
            concat!(
                "INSERT INTO dataset_changes (dataset_id, entity_type, entity_id, before)
                 SELECT $1, 'user', u.id, ",
                user_values!(),
                "
                 FROM stage_users s JOIN users u ON u.marketplace_id = $2 AND u.external_id = s.external_id
                 WHERE",
                decided!("updated"),
                " ON CONFLICT DO NOTHING"
            ),
            concat!(
                "UPDATE users AS u SET email = s.email_address,
                    first_name = COALESCE(s.first_name, u.first_name),
                    last_name = COALESCE(s.last_name, u.last_name),
                    phone = COALESCE(s.phone, u.phone), locale = COALESCE(s.locale, u.locale),
                    allow_login = (s.is_allow_login_user = '1'),
                    custom_attributes = COALESCE(CAST(s.custom AS {json_type}), u.custom_attributes),
                    import_hash = s.row_hash, updated_at = $5
                 FROM stage_users s
                 WHERE u.marketplace_id = $2 AND u.external_id = s.external_id AND",
                decided!("updated"),
                " AND ",
                user_differs!()
            ),
            after_values!("user", "users u", "u", user_values!()),
        ],
    },
    TypeApply {
        data_type: "companies",
        statements: &[
            concat!(
                "UPDATE stage_companies AS s SET outcome = CASE
                    WHEN NOT EXISTS (SELECT 1 FROM companies c WHERE c.marketplace_id = $2 AND c.external_id = s.external_id) THEN 'created'
                    WHEN EXISTS (SELECT 1 FROM companies c WHERE c.marketplace_id = $2 AND c.external_id = s.external_id AND ",
                company_differs!(),
                ") THEN 'updated' ELSE 'unchanged' END",
                undecided!()
            ),
            concat!(
                "INSERT INTO companies (marketplace_id, external_id, name, street1, street2, city, state, zip,
                    country, phone, email, website, billing_street1, billing_street2, billing_city,
                    billing_state, billing_zip, billing_country, allow_login, status, custom_attributes,
                    origin_kind, origin_ref, created_at, updated_at, import_hash)
                 SELECT $2, s.external_id, s.name, s.street1, s.street2, s.city, s.state, s.zip,
                    s.country, s.phone, s.email, s.website, s.billing_street1, s.billing_street2,
                    s.billing_city, s.billing_state, s.billing_zip, s.billing_country,
                    (s.allow_login = '1'), 'active', CAST(COALESCE(s.custom, '{}') AS {json_type}), 'dataset', $1, $5, $5,
                    s.row_hash
                 FROM stage_companies s WHERE",
                decided!("created"),
                " AND NOT EXISTS (SELECT 1 FROM companies c WHERE c.marketplace_id = $2 AND c.external_id = s.external_id)
                 ORDER BY s.line"
            ),
            concat!(
                "INSERT INTO dataset_changes (dataset_id, entity_type, entity_id, before)
                 SELECT $1, 'company', c.id, ",
                company_values!(),
                "
                 FROM stage_companies s JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.external_id
                 WHERE",
                decided!("updated"),
                " ON CONFLICT DO NOTHING"
            ),
            concat!(
                "UPDATE companies AS c SET name = s.name,
                    street1 = COALESCE(s.street1, c.street1), street2 = COALESCE(s.street2, c.street2),
                    city = COALESCE(s.city, c.city), state = COALESCE(s.state, c.state),
                    zip = COALESCE(s.zip, c.zip), country = COALESCE(s.country, c.country),
                    phone = COALESCE(s.phone, c.phone), email = COALESCE(s.email, c.email),
                    website = COALESCE(s.website, c.website),
                    billing_street1 = COALESCE(s.billing_street1, c.billing_street1),
                    billing_street2 = COALESCE(s.billing_street2, c.billing_street2),
                    billing_city = COALESCE(s.billing_city, c.billing_city),
                    billing_state = COALESCE(s.billing_state, c.billing_state),
                    billing_zip = COALESCE(s.billing_zip, c.billing_zip),
                    billing_country = COALESCE(s.billing_country, c.billing_country),
                    allow_login = (s.allow_login = '1'),
                    custom_attributes = COALESCE(CAST(s.custom AS {json_type}), c.custom_attributes),
                    import_hash = s.row_hash, updated_at = $5
                 FROM stage_companies s
                 WHERE c.marketplace_id = $2 AND c.external_id = s.external_id AND",
                decided!("updated"),
                " AND ",
                company_differs!()
            ),
            after_values!("company", "companies c", "c", company_values!()),
        ],
    },
    TypeApply {
        data_type: "memberships",
        statements: &[
            concat!(
                "UPDATE stage_memberships AS s SET outcome = CASE
                    WHEN NOT EXISTS (",
                membership_of_row!(),
                ") THEN 'created' WHEN EXISTS (",
                membership_of_row!(),
                " AND ",
                membership_differs!(),
                ") THEN 'updated' ELSE 'unchanged' END",
                undecided!()
            ),
            concat!(
                "INSERT INTO memberships (user_id, company_id, company_admin, billing_admin, sales_support,
                    restricted_sales_support, origin_ref, import_hash)
                 SELECT u.id, c.id, (s.sys_admin = '1'), (s.billing_admin = '1'), (s.sales_support = '1'),
                    (s.restricted_sales_support = '1'), $1, s.row_hash
                 FROM stage_memberships s
                 JOIN users u ON u.marketplace_id = $2 AND u.external_id = s.user_external_id
                 JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.company_external_id
                 WHERE",
                decided!("created"),
                " ON CONFLICT DO NOTHING"
            ),
            concat!(
                "UPDATE memberships AS m SET company_admin = (s.sys_admin = '1'),
                    billing_admin = (s.billing_admin = '1'), sales_support = (s.sales_support = '1'),
                    restricted_sales_support = (s.restricted_sales_support = '1'),
                    import_hash = s.row_hash
                 FROM stage_memberships s, users u, companies c
                 WHERE u.marketplace_id = $2 AND u.external_id = s.user_external_id
                   AND c.marketplace_id = $2 AND c.external_id = s.company_external_id
                   AND m.user_id = u.id AND m.company_id = c.id AND",
                decided!("updated")
            ),
        ],
    },
    TypeApply {
        data_type: "reseller_associations",
        statements: &[
            "UPDATE stage_reseller_associations AS s SET outcome = CASE
                WHEN NOT EXISTS (SELECT 1 FROM reseller_associations ra JOIN companies c ON c.id = ra.company_id
                                 WHERE c.marketplace_id = $2 AND c.external_id = s.company_external_id) THEN 'created'
                WHEN EXISTS (SELECT 1 FROM reseller_associations ra
                             JOIN companies c ON c.id = ra.company_id
                             JOIN companies r ON r.id = ra.reseller_company_id
                             WHERE c.marketplace_id = $2 AND c.external_id = s.company_external_id
                               AND r.external_id {distinct} s.reseller_company_external_id) THEN 'updated'
                ELSE 'unchanged' END
             WHERE s.dataset_id = $1 AND s.line BETWEEN $3 AND $4 AND NOT s.rejected AND s.outcome IS NULL",
            concat!(
                "INSERT INTO reseller_associations (company_id, reseller_company_id, origin_ref)
                 SELECT c.id, r.id, $1 FROM stage_reseller_associations s
                 JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.company_external_id
                 JOIN companies r ON r.marketplace_id = $2 AND r.external_id = s.reseller_company_external_id
                 WHERE",
                decided!("created"),
                " ON CONFLICT DO NOTHING"
            ),
            concat!(
                "UPDATE reseller_associations AS ra SET reseller_company_id = r.id
                 FROM stage_reseller_associations s, companies c, companies r
                 WHERE c.marketplace_id = $2 AND c.external_id = s.company_external_id
                   AND r.marketplace_id = $2 AND r.external_id = s.reseller_company_external_id
                   AND ra.company_id = c.id AND",
                decided!("updated")
            ),
        ],
    },
    TypeApply {
        data_type: "company_entitlements",
        statements: &[
            concat!(
                "UPDATE stage_company_entitlements AS s SET outcome = CASE
                    WHEN NOT EXISTS (SELECT 1 FROM subscriptions e WHERE e.marketplace_id = $2 AND e.external_id = s.external_id) THEN 'created'
                    WHEN EXISTS (SELECT 1 FROM subscriptions e",
                entitlement_joins!(),
                " WHERE e.marketplace_id = $2 AND e.external_id = s.external_id AND ",
                subscription_differs!(),
                ") THEN 'updated' ELSE 'unchanged' END",
                undecided!()
            ),
            // Recorded as migrated: active (or as the file says), nothing sent to the vendor.
            concat!(
                "INSERT INTO subscriptions (marketplace_id, external_id, company_id, edition_id, purchased_by,
                    units, start_date, end_date, billing_cycle, term, auto_renew, status,
                    vendor_subscription_id, custom_attributes, origin_kind, origin_ref, created_at, updated_at,
                    import_hash)
                 SELECT $2, s.external_id, c.id, ",
                edition_of_row!(),
                ", pu.id, CAST(s.units AS BIGINT), CAST(s.start_date AS {date_type}),
                    CAST(s.end_date AS {date_type}), s.billing_cycle, s.term,
                    (s.auto_renew = '1'),
                    CASE WHEN (SELECT d.provision FROM datasets d WHERE d.id = $1)
                              AND (SELECT ed.connector FROM editions ed WHERE ed.id = ",
                edition_of_row!(),
                ") = 'webhook' THEN 'pending'
                         ELSE CASE lower(COALESCE(s.order_status, 'active'))
                            WHEN 'suspended' THEN 'suspended' WHEN 'cancelled' THEN 'cancelled'
                            ELSE 'active' END
                    END,
                    s.vendor_entitlement_id, CAST(COALESCE(s.custom, '{}') AS {json_type}), 'dataset', $1, $5, $5,
                    s.row_hash
                 FROM stage_company_entitlements s",
                entitlement_joins!(),
                " WHERE",
                decided!("created"),
                " AND NOT EXISTS (SELECT 1 FROM subscriptions e WHERE e.marketplace_id = $2 AND e.external_id = s.external_id)
                 ORDER BY s.line"
            ),
            // With provisioning on, the purchasing user gets a seat.
            concat!(
                "INSERT INTO seat_assignments (subscription_id, user_id, origin_ref)
                 SELECT e.id, e.purchased_by, $1 FROM stage_company_entitlements s
                 JOIN subscriptions e ON e.marketplace_id = $2 AND e.external_id = s.external_id
                 WHERE",
                decided!("created"),
                " AND e.purchased_by IS NOT NULL
                   AND (SELECT d.provision FROM datasets d WHERE d.id = $1)
                 ON CONFLICT DO NOTHING"
            ),
            concat!(
                "INSERT INTO dataset_changes (dataset_id, entity_type, entity_id, before)
                 SELECT $1, 'subscription', e.id, CAST({json_object}('company_id', e.company_id,
                    'edition_id', e.edition_id, 'purchased_by', e.purchased_by, 'units', e.units,
                    'start_date', e.start_date, 'end_date', e.end_date, 'billing_cycle', e.billing_cycle,
                    'term', e.term, 'auto_renew', e.auto_renew,
                    'vendor_subscription_id', e.vendor_subscription_id,
                    'custom_attributes', e.custom_attributes, 'updated_at', e.updated_at) AS TEXT)
                 FROM stage_company_entitlements s JOIN subscriptions e ON e.marketplace_id = $2 AND e.external_id = s.external_id
                 WHERE",
                decided!("updated"),
                " ON CONFLICT DO NOTHING"
            ),
            concat!(
                "UPDATE subscriptions AS e SET company_id = c.id, edition_id = ",
                edition_of_row!(),
                ", purchased_by = pu.id, units = CAST(s.units AS BIGINT),
                    start_date = COALESCE(CAST(s.start_date AS {date_type}), e.start_date),
                    end_date = COALESCE(CAST(s.end_date AS {date_type}), e.end_date),
                    billing_cycle = COALESCE(s.billing_cycle, e.billing_cycle),
                    term = COALESCE(s.term, e.term), auto_renew = (s.auto_renew = '1'),
                    vendor_subscription_id = COALESCE(s.vendor_entitlement_id, e.vendor_subscription_id),
                    custom_attributes = COALESCE(CAST(s.custom AS {json_type}), e.custom_attributes),
                    import_hash = s.row_hash, updated_at = $5
                 FROM stage_company_entitlements s, companies c, users pu
                 WHERE e.marketplace_id = $2 AND e.external_id = s.external_id
                   AND c.marketplace_id = $2 AND c.external_id = s.company_external_id
                   AND pu.marketplace_id = $2 AND pu.external_id = s.purchased_by_external_id AND",
                decided!("updated")
            ),
        ],
    },
    TypeApply {
        data_type: "user_entitlements",
        statements: &[
            "UPDATE stage_user_entitlements AS s SET outcome = CASE
                WHEN EXISTS (SELECT 1 FROM seat_assignments sa
                             JOIN subscriptions e ON e.id = sa.subscription_id JOIN users u ON u.id = sa.user_id
                             WHERE e.marketplace_id = $2 AND e.external_id = s.company_entitlement_external_id
                               AND u.marketplace_id = $2 AND u.external_id = s.user_external_id) THEN 'unchanged'
                ELSE 'created' END
             WHERE s.dataset_id = $1 AND s.line BETWEEN $3 AND $4 AND NOT s.rejected AND s.outcome IS NULL",
            concat!(
                "INSERT INTO seat_assignments (subscription_id, user_id, origin_ref)
                 SELECT e.id, u.id, $1 FROM stage_user_entitlements s
                 JOIN subscriptions e ON e.marketplace_id = $2 AND e.external_id = s.company_entitlement_external_id
                 JOIN users u ON u.marketplace_id = $2 AND u.external_id = s.user_external_id
                 WHERE",
                decided!("created"),
                " ON CONFLICT DO NOTHING"
            ),
        ],
    },
    TypeApply {
        data_type: "microsoft_customers",
        statements: &[
            "UPDATE stage_microsoft_customers AS s SET outcome = CASE
                WHEN NOT EXISTS (SELECT 1 FROM tenant_links tl WHERE tl.marketplace_id = $2 AND tl.tenant_id = lower(s.tenant_id)) THEN 'created'
                WHEN EXISTS (SELECT 1 FROM tenant_links tl JOIN companies c ON c.id = tl.company_id
                             WHERE tl.marketplace_id = $2 AND tl.tenant_id = lower(s.tenant_id)
                               AND (c.external_id {distinct} s.company_external_id
                                    OR (s.domain IS NOT NULL AND {domain_prefix} {distinct} tl.domain_prefix)
                                    OR (s.reseller_mpn_id IS NOT NULL AND s.reseller_mpn_id {distinct} tl.reseller_mpn_id))) THEN 'updated'
                ELSE 'unchanged' END
             WHERE s.dataset_id = $1 AND s.line BETWEEN $3 AND $4 AND NOT s.rejected AND s.outcome IS NULL",
            // A tenant links to the marketplace's first Partner Center instance, by its tenant id
            // and domain prefix in lower case.
            concat!(
                "INSERT INTO tenant_links (marketplace_id, instance_id, company_id, tenant_id, domain_prefix,
                    reseller_mpn_id, created_at, origin_ref)
                 SELECT $2, (SELECT MIN(i.id) FROM partner_center_instances i WHERE i.marketplace_id = $2),
                    c.id, lower(s.tenant_id), {domain_prefix}, s.reseller_mpn_id, $5, $1
                 FROM stage_microsoft_customers s
                 JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.company_external_id
                 WHERE",
                decided!("created"),
                " ON CONFLICT DO NOTHING"
            ),
            concat!(
                "UPDATE tenant_links AS tl SET company_id = c.id,
                    domain_prefix = COALESCE({domain_prefix}, tl.domain_prefix),
                    reseller_mpn_id = COALESCE(s.reseller_mpn_id, tl.reseller_mpn_id)
                 FROM stage_microsoft_customers s, companies c
                 WHERE tl.marketplace_id = $2 AND tl.tenant_id = lower(s.tenant_id)
                   AND c.marketplace_id = $2 AND c.external_id = s.company_external_id AND",
                decided!("updated")
            ),
        ],
    },
    TypeApply {
        data_type: "microsoft_subscriptions",
        statements: &[
            "UPDATE stage_microsoft_subscriptions AS s SET outcome = CASE
                WHEN EXISTS (SELECT 1 FROM subscriptions e WHERE e.marketplace_id = $2
                             AND e.external_id = s.company_entitlement_external_id
                             AND e.vendor_subscription_id = s.subscription_id) THEN 'unchanged'
                ELSE 'updated' END
             WHERE s.dataset_id = $1 AND s.line BETWEEN $3 AND $4 AND NOT s.rejected AND s.outcome IS NULL",
            // The Partner Center subscription becomes the vendor id of the marketplace's.
            concat!(
                "UPDATE subscriptions AS e SET vendor_subscription_id = s.subscription_id, updated_at = $5
                 FROM stage_microsoft_subscriptions s
                 WHERE e.marketplace_id = $2 AND e.external_id = s.company_entitlement_external_id AND",
                decided!("updated")
            ),
        ],
    },
];

/// Rows whose record was last written by the very same row (same fingerprint): they are
/// unchanged, and re-running a dataset spends little on them. Per staging table, a condition
/// on its row `s`; `$2` is the marketplace. Used as rows are staged (`staging_statement`).
pub(crate) const UNCHANGED: &[(&str, &str)] = &[
    (
        "stage_users",
        "EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2
                 AND u.external_id = s.external_id AND u.import_hash = s.row_hash)",
    ),
    (
        "stage_companies",
        "EXISTS (SELECT 1 FROM companies c WHERE c.marketplace_id = $2
                 AND c.external_id = s.external_id AND c.import_hash = s.row_hash)",
    ),
    (
        "stage_memberships",
        concat!(
            "EXISTS (",
            membership_of_row!(),
            " AND m.import_hash = s.row_hash)"
        ),
    ),
    (
        "stage_company_entitlements",
        "EXISTS (SELECT 1 FROM subscriptions e WHERE e.marketplace_id = $2
                 AND e.external_id = s.external_id AND e.import_hash = s.row_hash)",
    ),
    (
        "stage_user_entitlements",
        "EXISTS (SELECT 1 FROM seat_assignments sa
                 JOIN subscriptions e ON e.id = sa.subscription_id JOIN users u ON u.id = sa.user_id
                 WHERE e.marketplace_id = $2 AND e.external_id = s.company_entitlement_external_id
                   AND u.marketplace_id = $2 AND u.external_id = s.user_external_id)",
    ),
];
