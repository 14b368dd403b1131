//! The set-level checks of validation (docs/datasets.md): duplicates in the file, references
//! resolved first inside the dataset and then against the marketplace, and business rules.
//! Each rule is a condition on a staged row `s`; a row it holds for gets a finding. Types are
//! checked in activation order, and a type's failing rows are rejected before the next type
//! looks them up, so a reference to a rejected row is itself an error.
//!
//! Parameters: `$1` the dataset, `$2` its marketplace; in [`RESELLER_SCOPE`], `$3` the company
//! of the reseller whose dataset it is.

pub(crate) struct Rule {
    pub code: &'static str,
    pub column: &'static str,
    /// The offending value, as an SQL expression on `s`.
    pub value: &'static str,
    /// What the report says, as an SQL string literal.
    pub message: &'static str,
    pub condition: &'static str,
}

/// The checks of one data type.
pub(crate) struct TypeRules {
    pub data_type: &'static str,
    pub table: &'static str,
    /// The row's key as the report shows it, as an SQL expression on `s`.
    pub key: &'static str,
    pub rules: &'static [Rule],
}

/// The row's key is on an earlier line too. The keys that repeat are found first, by grouping
/// (in the order of the staging table's key index, without a sort); then only their rows are
/// ranked among those of their key by line. Both passes stay linear in rows whatever they hold
/// (a probe for an earlier line of the same key walked every row of that key: a file of one row
/// repeated was quadratic), and a file without duplicates sorts nothing.
macro_rules! earlier_duplicate {
    ($table:literal, $first:literal $(, $column:literal)*) => {
        concat!(
            "(s.line, s.", $first, $(", s.", $column,)* ") IN (SELECT line, ", $first,
            $(", ", $column,)* " FROM (SELECT line, ", $first, $(", ", $column,)*
            ", RANK() OVER (PARTITION BY ", $first, $(", ", $column,)* " ORDER BY line) AS place",
            " FROM ", $table, " WHERE dataset_id = $1 AND (", $first, $(", ", $column,)*
            ") IN (SELECT ", $first, $(", ", $column,)* " FROM ", $table,
            " WHERE dataset_id = $1 AND ", $first, " IS NOT NULL",
            $(" AND ", $column, " IS NOT NULL",)*
            " GROUP BY ", $first, $(", ", $column,)* " HAVING COUNT(*) > 1)",
            ") ranked WHERE place > 1)"
        )
    };
}

/// What a reference that finds nothing says: that the record is in the dataset but was
/// rejected, with its file and line ("u-3 was rejected, users.csv line 4"), or that it is
/// nowhere (`$nowhere`).
macro_rules! missing {
    ($data_type:literal, $value:literal, $nowhere:literal) => {
        concat!(
            "COALESCE((SELECT ",
            $value,
            " || ' was rejected, ' || df.file_name || ' line ' ||",
            " CAST(f.line AS TEXT) FROM dataset_findings f JOIN dataset_files df",
            " ON df.dataset_id = f.dataset_id AND df.data_type IN ('",
            $data_type,
            "', 'orders')",
            " WHERE f.dataset_id = $1 AND f.data_type = '",
            $data_type,
            "'",
            " AND f.severity = 'error' AND f.external_id = ",
            $value,
            " ORDER BY f.line LIMIT 1), '",
            $nowhere,
            "')"
        )
    };
}

/// A user that is staged (and not rejected) or already in the marketplace.
macro_rules! user_known {
    ($column:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM stage_users u WHERE u.dataset_id = $1 AND NOT u.rejected",
            " AND u.external_id = s.",
            $column,
            ")",
            " OR EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2",
            " AND u.external_id = s.",
            $column,
            "))"
        )
    };
}

macro_rules! company_known {
    ($column:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM stage_companies c WHERE c.dataset_id = $1 AND NOT c.rejected",
            " AND c.external_id = s.",
            $column,
            ")",
            " OR EXISTS (SELECT 1 FROM companies c WHERE c.marketplace_id = $2",
            " AND c.external_id = s.",
            $column,
            "))"
        )
    };
}

macro_rules! entitlement_known {
    ($column:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM stage_company_entitlements e WHERE e.dataset_id = $1",
            " AND NOT e.rejected AND e.external_id = s.",
            $column,
            ")",
            " OR EXISTS (SELECT 1 FROM subscriptions e WHERE e.marketplace_id = $2",
            " AND e.external_id = s.",
            $column,
            "))"
        )
    };
}

/// Whether edition `ed` is the one a company entitlement `s` names: by pricing plan id, else
/// channel SKU, else code.
macro_rules! edition_match {
    () => {
        "(CASE WHEN s.edition_pricing_uuid IS NOT NULL THEN ed.pricing_plan_id = s.edition_pricing_uuid
               WHEN s.channel_sku IS NOT NULL THEN ed.channel_sku = s.channel_sku
               ELSE ed.code = s.edition_code END)"
    };
}
pub(crate) use edition_match;

pub(crate) const ALL: &[TypeRules] = &[
    TypeRules {
        data_type: "users",
        table: "stage_users",
        key: "s.external_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "EXTERNAL_ID",
                value: "s.external_id",
                message: "'this EXTERNAL_ID is on an earlier line of the file'",
                condition: earlier_duplicate!("stage_users", "external_id"),
            },
            Rule {
                code: "EMAIL_ALREADY_USED",
                column: "EMAIL_ADDRESS",
                value: "s.email_address",
                message: "'another user of the file has this address'",
                // An earlier line has the address with another external id: the lowest or
                // the highest external id before this line differs from this one. Only the
                // addresses of more than one external id are ranked (linear, as above).
                condition: "(s.line, s.email_address) IN (SELECT line, email_address FROM (
                        SELECT line, email_address, external_id,
                            MIN(external_id) OVER earlier AS lowest,
                            MAX(external_id) OVER earlier AS highest
                        FROM stage_users WHERE dataset_id = $1 AND email_address IN (
                            SELECT email_address FROM stage_users
                            WHERE dataset_id = $1 AND email_address IS NOT NULL
                            GROUP BY email_address
                            HAVING MIN(external_id) <> MAX(external_id))
                        WINDOW earlier AS (PARTITION BY email_address ORDER BY line
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) ranked
                    WHERE ranked.lowest <> ranked.external_id
                        OR ranked.highest <> ranked.external_id)",
            },
            Rule {
                code: "EMAIL_ALREADY_USED",
                column: "EMAIL_ADDRESS",
                value: "s.email_address",
                message: "'another user of the marketplace has this address'",
                condition: "EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2
                    AND u.email = s.email_address
                    AND (u.external_id IS NULL OR u.external_id <> s.external_id))",
            },
        ],
    },
    TypeRules {
        data_type: "companies",
        table: "stage_companies",
        key: "s.external_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "EXTERNAL_ID",
                value: "s.external_id",
                message: "'this EXTERNAL_ID is on an earlier line of the file'",
                condition: earlier_duplicate!("stage_companies", "external_id"),
            },
            Rule {
                code: "USER_MISSING",
                column: "CREATED_BY_EXTERNAL_ID",
                value: "s.created_by_external_id",
                message: missing!(
                    "users",
                    "s.created_by_external_id",
                    "no user with this external id in the dataset or the marketplace"
                ),
                condition: concat!(
                    "s.created_by_external_id IS NOT NULL AND NOT ",
                    user_known!("created_by_external_id")
                ),
            },
        ],
    },
    TypeRules {
        data_type: "memberships",
        table: "stage_memberships",
        key: "s.user_external_id || '/' || s.company_external_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "USER_EXTERNAL_ID",
                value: "s.user_external_id",
                message: "'this membership is on an earlier line of the file'",
                condition: earlier_duplicate!(
                    "stage_memberships",
                    "user_external_id",
                    "company_external_id"
                ),
            },
            Rule {
                code: "USER_MISSING",
                column: "USER_EXTERNAL_ID",
                value: "s.user_external_id",
                message: missing!(
                    "users",
                    "s.user_external_id",
                    "no user with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", user_known!("user_external_id")),
            },
            Rule {
                code: "COMPANY_MISSING",
                column: "COMPANY_EXTERNAL_ID",
                value: "s.company_external_id",
                message: missing!(
                    "companies",
                    "s.company_external_id",
                    "no company with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", company_known!("company_external_id")),
            },
        ],
    },
    TypeRules {
        data_type: "reseller_associations",
        table: "stage_reseller_associations",
        key: "s.company_external_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "COMPANY_EXTERNAL_ID",
                value: "s.company_external_id",
                message: "'this company is on an earlier line of the file'",
                condition: earlier_duplicate!("stage_reseller_associations", "company_external_id"),
            },
            Rule {
                code: "COMPANY_MISSING",
                column: "COMPANY_EXTERNAL_ID",
                value: "s.company_external_id",
                message: missing!(
                    "companies",
                    "s.company_external_id",
                    "no company with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", company_known!("company_external_id")),
            },
            Rule {
                code: "COMPANY_MISSING",
                column: "RESELLER_COMPANY_EXTERNAL_ID",
                value: "s.reseller_company_external_id",
                message: missing!(
                    "companies",
                    "s.reseller_company_external_id",
                    "no reseller company with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", company_known!("reseller_company_external_id")),
            },
            Rule {
                code: "INVALID_RESELLER_COMPANY_EXTERNAL_ID",
                column: "RESELLER_COMPANY_EXTERNAL_ID",
                value: "s.reseller_company_external_id",
                message: "'a company cannot be its own reseller'",
                condition: "s.reseller_company_external_id = s.company_external_id",
            },
        ],
    },
    TypeRules {
        data_type: "company_entitlements",
        table: "stage_company_entitlements",
        key: "s.external_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "EXTERNAL_ID",
                value: "s.external_id",
                message: "'this EXTERNAL_ID is on an earlier line of the file'",
                condition: earlier_duplicate!("stage_company_entitlements", "external_id"),
            },
            Rule {
                code: "COMPANY_MISSING",
                column: "COMPANY_EXTERNAL_ID",
                value: "s.company_external_id",
                message: missing!(
                    "companies",
                    "s.company_external_id",
                    "no company with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", company_known!("company_external_id")),
            },
            Rule {
                code: "USER_MISSING",
                column: "PURCHASED_BY_EXTERNAL_ID",
                value: "s.purchased_by_external_id",
                message: missing!(
                    "users",
                    "s.purchased_by_external_id",
                    "no user with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", user_known!("purchased_by_external_id")),
            },
            Rule {
                code: "OWNER_NOT_MEMBER_OF_COMPANY",
                column: "PURCHASED_BY_EXTERNAL_ID",
                value: "s.purchased_by_external_id",
                message: "'the purchasing user is not a member of the company'",
                condition: concat!(
                    user_known!("purchased_by_external_id"),
                    " AND ",
                    company_known!("company_external_id"),
                    " AND NOT EXISTS (SELECT 1 FROM stage_memberships m WHERE m.dataset_id = $1
                        AND NOT m.rejected AND m.user_external_id = s.purchased_by_external_id
                        AND m.company_external_id = s.company_external_id)
                      AND NOT EXISTS (SELECT 1 FROM memberships m
                        JOIN users u ON u.id = m.user_id JOIN companies c ON c.id = m.company_id
                        WHERE u.marketplace_id = $2 AND u.external_id = s.purchased_by_external_id
                        AND c.external_id = s.company_external_id)"
                ),
            },
            Rule {
                code: "EDITION_PRICING_INVALID",
                column: "EDITION_PRICING_UUID",
                value: "COALESCE(s.edition_pricing_uuid, s.channel_sku, s.edition_code)",
                message: "'no edition, or more than one, matches this pricing plan id, channel SKU or edition code: the Catalog page lists each edition with its code, pricing plan id and SKU'",
                condition: concat!(
                    "(SELECT COUNT(*) FROM editions ed WHERE ed.marketplace_id = $2 AND ed.active AND ",
                    edition_match!(),
                    ") <> 1"
                ),
            },
            Rule {
                code: "UNITS_LESS_THAN_INCLUDED",
                column: "UNITS",
                value: "s.units",
                message: "'fewer units than the edition includes'",
                condition: concat!(
                    "EXISTS (SELECT 1 FROM editions ed WHERE ed.marketplace_id = $2 AND ed.active AND ",
                    edition_match!(),
                    " AND CAST(s.units AS BIGINT) < ed.included_units)"
                ),
            },
        ],
    },
    TypeRules {
        data_type: "user_entitlements",
        table: "stage_user_entitlements",
        key: "s.user_external_id || '/' || s.company_entitlement_external_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "USER_EXTERNAL_ID",
                value: "s.user_external_id",
                message: "'this seat is on an earlier line of the file'",
                condition: earlier_duplicate!(
                    "stage_user_entitlements",
                    "user_external_id",
                    "company_entitlement_external_id"
                ),
            },
            Rule {
                code: "USER_MISSING",
                column: "USER_EXTERNAL_ID",
                value: "s.user_external_id",
                message: missing!(
                    "users",
                    "s.user_external_id",
                    "no user with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", user_known!("user_external_id")),
            },
            Rule {
                code: "COMPANY_ENTITLEMENT_MISSING",
                column: "COMPANY_ENTITLEMENT_EXTERNAL_ID",
                value: "s.company_entitlement_external_id",
                message: missing!(
                    "company_entitlements",
                    "s.company_entitlement_external_id",
                    "no subscription with this external id in the dataset or the marketplace"
                ),
                condition: concat!(
                    "NOT ",
                    entitlement_known!("company_entitlement_external_id")
                ),
            },
        ],
    },
    TypeRules {
        data_type: "microsoft_customers",
        table: "stage_microsoft_customers",
        key: "s.tenant_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "TENANT_ID",
                value: "s.tenant_id",
                message: "'this TENANT_ID is on an earlier line of the file'",
                condition: earlier_duplicate!("stage_microsoft_customers", "tenant_id"),
            },
            Rule {
                code: "COMPANY_MISSING",
                column: "COMPANY_EXTERNAL_ID",
                value: "s.company_external_id",
                message: missing!(
                    "companies",
                    "s.company_external_id",
                    "no company with this external id in the dataset or the marketplace"
                ),
                condition: concat!("NOT ", company_known!("company_external_id")),
            },
            Rule {
                code: "INSTANCE_MISSING",
                column: "TENANT_ID",
                value: "s.tenant_id",
                message: "'the marketplace has no Partner Center instance to link the tenant to'",
                condition: "NOT EXISTS (SELECT 1 FROM partner_center_instances i WHERE i.marketplace_id = $2)",
            },
        ],
    },
    TypeRules {
        data_type: "microsoft_subscriptions",
        table: "stage_microsoft_subscriptions",
        key: "s.subscription_id",
        rules: &[
            Rule {
                code: "DUPLICATE_RECORD",
                column: "SUBSCRIPTION_ID",
                value: "s.subscription_id",
                message: "'this SUBSCRIPTION_ID is on an earlier line of the file'",
                condition: earlier_duplicate!("stage_microsoft_subscriptions", "subscription_id"),
            },
            Rule {
                code: "MICROSOFT_CUSTOMER_MISSING",
                column: "TENANT_ID",
                value: "s.tenant_id",
                message: missing!(
                    "microsoft_customers",
                    "s.tenant_id",
                    "no Microsoft customer with this tenant id in the dataset or the marketplace"
                ),
                condition:
                    "NOT EXISTS (SELECT 1 FROM stage_microsoft_customers mc WHERE mc.dataset_id = $1
                        AND NOT mc.rejected AND mc.tenant_id = s.tenant_id)
                    AND NOT EXISTS (SELECT 1 FROM tenant_links tl WHERE tl.marketplace_id = $2
                        AND tl.tenant_id = lower(s.tenant_id))",
            },
            Rule {
                code: "COMPANY_ENTITLEMENT_MISSING",
                column: "COMPANY_ENTITLEMENT_EXTERNAL_ID",
                value: "s.company_entitlement_external_id",
                message: missing!(
                    "company_entitlements",
                    "s.company_entitlement_external_id",
                    "no subscription with this external id in the dataset or the marketplace"
                ),
                condition: concat!(
                    "NOT ",
                    entitlement_known!("company_entitlement_external_id")
                ),
            },
            Rule {
                code: "INVALID_OFFER_ID",
                column: "OFFER_ID",
                value: "s.offer_id",
                message: "'no active edition of the catalog stands for this offer id: the Catalog page lists the offer ids of each edition'",
                condition:
                    "NOT EXISTS (SELECT 1 FROM edition_offers eo WHERE eo.marketplace_id = $2
                    AND eo.active AND lower(eo.offer_id) = lower(s.offer_id))",
            },
        ],
    },
];

/// The statement that records the findings of one rule. A row already found unchanged is only
/// checked for duplicates: its record exists as the row says.
/// A company of the marketplace with this external id that is neither the reseller (`$3`) nor
/// one of its customers.
macro_rules! foreign_company {
    ($column:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM companies c WHERE c.marketplace_id = $2 AND c.external_id = s.",
            $column,
            " AND c.id <> $3 AND NOT EXISTS (SELECT 1 FROM reseller_associations ra",
            " WHERE ra.company_id = c.id AND ra.reseller_company_id = $3))"
        )
    };
}

/// A user of the marketplace with this external id who is a member neither of the reseller
/// (`$3`) nor of one of its customers.
macro_rules! foreign_user {
    ($column:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM users u WHERE u.marketplace_id = $2 AND u.external_id = s.",
            $column,
            " AND NOT EXISTS (SELECT 1 FROM memberships m",
            " LEFT JOIN reseller_associations ra ON ra.company_id = m.company_id",
            " AND ra.reseller_company_id = $3",
            " WHERE m.user_id = u.id AND (m.company_id = $3 OR ra.company_id IS NOT NULL)))"
        )
    };
}

/// A subscription of the marketplace with this external id that belongs to a company neither
/// the reseller (`$3`) nor one of its customers.
macro_rules! foreign_subscription {
    ($column:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM subscriptions e WHERE e.marketplace_id = $2 AND e.external_id = s.",
            $column,
            " AND e.company_id <> $3 AND NOT EXISTS (SELECT 1 FROM reseller_associations ra",
            " WHERE ra.company_id = e.company_id AND ra.reseller_company_id = $3))"
        )
    };
}

const NOT_RESELLER_CUSTOMER: &str = "NOT_RESELLER_CUSTOMER";

/// What a reseller's dataset may touch (parameter `$3`, the reseller's company): only its own
/// company, its customers, their members and their subscriptions. The messages say no more than
/// that the row is refused: not whose the record is, nor where it belongs. Checked before the other
/// rules, so a record of another company's is never looked up as a reference either.
pub(crate) const RESELLER_SCOPE: &[TypeRules] = &[
    TypeRules {
        data_type: "users",
        table: "stage_users",
        key: "s.external_id",
        rules: &[Rule {
            code: NOT_RESELLER_CUSTOMER,
            column: "EXTERNAL_ID",
            value: "s.external_id",
            message: "'you cannot order for this user'",
            condition: foreign_user!("external_id"),
        }],
    },
    TypeRules {
        data_type: "companies",
        table: "stage_companies",
        key: "s.external_id",
        rules: &[Rule {
            code: NOT_RESELLER_CUSTOMER,
            column: "EXTERNAL_ID",
            value: "s.external_id",
            message: "'you cannot order for this company'",
            condition: foreign_company!("external_id"),
        }],
    },
    TypeRules {
        data_type: "memberships",
        table: "stage_memberships",
        key: "s.user_external_id || '/' || s.company_external_id",
        rules: &[Rule {
            code: NOT_RESELLER_CUSTOMER,
            column: "COMPANY_EXTERNAL_ID",
            value: "s.company_external_id",
            message: "'you cannot order for this user or company'",
            condition: concat!(
                foreign_company!("company_external_id"),
                " OR ",
                foreign_user!("user_external_id")
            ),
        }],
    },
    TypeRules {
        data_type: "company_entitlements",
        table: "stage_company_entitlements",
        key: "s.external_id",
        rules: &[Rule {
            code: NOT_RESELLER_CUSTOMER,
            column: "EXTERNAL_ID",
            value: "s.external_id",
            message: "'you cannot order for this subscription, company or user'",
            condition: concat!(
                foreign_subscription!("external_id"),
                " OR ",
                foreign_company!("company_external_id"),
                " OR ",
                foreign_user!("purchased_by_external_id")
            ),
        }],
    },
    TypeRules {
        data_type: "user_entitlements",
        table: "stage_user_entitlements",
        key: "s.user_external_id || '/' || s.company_entitlement_external_id",
        rules: &[Rule {
            code: NOT_RESELLER_CUSTOMER,
            column: "USER_EXTERNAL_ID",
            value: "s.user_external_id",
            message: "'you cannot order for this user or subscription'",
            condition: concat!(
                foreign_subscription!("company_entitlement_external_id"),
                " OR ",
                foreign_user!("user_external_id")
            ),
        }],
    },
];

/// The lines of the file that have an error: in an order dataset, each line is an order.
macro_rules! failed_order {
    () => {
        "s.line IN (SELECT line FROM dataset_findings WHERE dataset_id = $1 AND severity = 'error')"
    };
}

const ORDER_INCOMPLETE: &str =
    "'another record of this order has an error: none of the order is applied'";

/// An order is applied whole or not at all (an order dataset, after [`ALL`]): the subscription
/// and seat of an order with an error anywhere are refused, and so are its user, company and
/// membership unless an order that goes through has them too (a record on several orders is
/// staged once).
pub(crate) const WHOLE_ORDERS: &[TypeRules] = &[
    TypeRules {
        data_type: "company_entitlements",
        table: "stage_company_entitlements",
        key: "s.external_id",
        rules: &[Rule {
            code: "ORDER_INCOMPLETE",
            column: "ORDER_EXTERNAL_ID",
            value: "s.external_id",
            message: ORDER_INCOMPLETE,
            condition: failed_order!(),
        }],
    },
    TypeRules {
        data_type: "user_entitlements",
        table: "stage_user_entitlements",
        key: "s.user_external_id || '/' || s.company_entitlement_external_id",
        rules: &[Rule {
            code: "ORDER_INCOMPLETE",
            column: "USER_EXTERNAL_ID",
            value: "s.user_external_id",
            message: ORDER_INCOMPLETE,
            condition: failed_order!(),
        }],
    },
    TypeRules {
        data_type: "companies",
        table: "stage_companies",
        key: "s.external_id",
        rules: &[Rule {
            code: "ORDER_INCOMPLETE",
            column: "COMPANY_EXTERNAL_ID",
            value: "s.external_id",
            message: ORDER_INCOMPLETE,
            condition: concat!(
                failed_order!(),
                " AND NOT EXISTS (SELECT 1 FROM stage_company_entitlements e",
                " WHERE e.dataset_id = $1 AND NOT e.rejected",
                " AND e.company_external_id = s.external_id)"
            ),
        }],
    },
    TypeRules {
        data_type: "users",
        table: "stage_users",
        key: "s.external_id",
        rules: &[Rule {
            code: "ORDER_INCOMPLETE",
            column: "USER_EXTERNAL_ID",
            value: "s.external_id",
            message: ORDER_INCOMPLETE,
            condition: concat!(
                failed_order!(),
                " AND NOT EXISTS (SELECT 1 FROM stage_company_entitlements e",
                " WHERE e.dataset_id = $1 AND NOT e.rejected",
                " AND e.purchased_by_external_id = s.external_id)",
                " AND NOT EXISTS (SELECT 1 FROM stage_user_entitlements ue",
                " WHERE ue.dataset_id = $1 AND NOT ue.rejected",
                " AND ue.user_external_id = s.external_id)"
            ),
        }],
    },
    TypeRules {
        data_type: "memberships",
        table: "stage_memberships",
        key: "s.user_external_id || '/' || s.company_external_id",
        rules: &[Rule {
            code: "ORDER_INCOMPLETE",
            column: "USER_EXTERNAL_ID",
            value: "s.user_external_id",
            message: ORDER_INCOMPLETE,
            condition: concat!(
                failed_order!(),
                " AND NOT EXISTS (SELECT 1 FROM stage_company_entitlements e",
                " WHERE e.dataset_id = $1 AND NOT e.rejected",
                " AND e.company_external_id = s.company_external_id",
                " AND e.purchased_by_external_id = s.user_external_id)"
            ),
        }],
    },
];

/// The statement that records a rule's findings. Rows found unchanged when staged write
/// nothing, so only the rules about the file itself and about whose records they are check them.
pub(crate) fn finding_statement(rules: &TypeRules, rule: &Rule) -> String {
    let rows = if matches!(rule.code, "DUPLICATE_RECORD" | NOT_RESELLER_CUSTOMER) {
        ""
    } else {
        " AND s.outcome IS NULL"
    };
    format!(
        "INSERT INTO dataset_findings (dataset_id, data_type, line, external_id, severity, code,
            column_name, message, value)
         SELECT $1, '{data_type}', s.line, {key}, 'error', '{code}', '{column}', {message}, {value}
         FROM {table} s WHERE s.dataset_id = $1 AND NOT s.rejected{rows} AND ({condition})",
        data_type = rules.data_type,
        key = rules.key,
        code = rule.code,
        column = rule.column,
        message = rule.message,
        value = rule.value,
        table = rules.table,
        condition = rule.condition,
    )
}

/// The statement that rejects the rows of a type that have an error.
pub(crate) fn reject_statement(rules: &TypeRules) -> String {
    format!(
        "UPDATE {table} SET rejected = TRUE, outcome = NULL WHERE dataset_id = $1 AND NOT rejected
           AND line IN (SELECT line FROM dataset_findings
                        WHERE dataset_id = $1 AND data_type = '{data_type}' AND severity = 'error')",
        table = rules.table,
        data_type = rules.data_type,
    )
}
