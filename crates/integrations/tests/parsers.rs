//! Properties of reading what Partner Center and Google answer, over generated answers: any
//! order of fields, fields this version does not know, optional fields left out, enums in any
//! casing, a byte-order mark — the same record comes out, and nothing fails that the
//! specification allows. `scripts/test` runs them with a fixed seed and a bounded number of
//! cases (`PROPTEST_RNG_SEED`, `PROPTEST_CASES`).

use ferry_integrations::google::DirectoryUser;
use ferry_integrations::partner_center::model::{
    self, BillingCycle, Subscription, SubscriptionStatus, User, UserState,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A JSON object written field by field in the order given.
fn object(fields: &[(String, Value)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// `text` with each letter upper- or lower-cased as `mask` says.
fn cased(text: &str, mask: u64) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Fields the models do not know: they end in `X`, which no field of the specification does.
fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    let value = prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,8}".prop_map(Value::from),
        Just(json!({ "nested": [1, 2, { "deeper": null }] })),
        Just(Value::Null),
    ];
    proptest::collection::vec(("[a-z]{2,9}X", value), 0..4)
}

/// An answer: the fields given (each optional one kept or not), unknown ones, shuffled.
fn answer(
    required: Vec<(String, Value)>,
    optional: Vec<(String, Value)>,
) -> impl Strategy<Value = (String, Vec<String>)> {
    let n = optional.len();
    (
        proptest::collection::vec(any::<bool>(), n),
        unknown_fields(),
        any::<bool>(),
    )
        .prop_flat_map(move |(kept, unknown, bom)| {
            let mut fields = required.clone();
            let mut present = Vec::new();
            for ((name, value), keep) in optional.iter().zip(kept) {
                if keep {
                    fields.push((name.clone(), value.clone()));
                    present.push(name.clone());
                }
            }
            fields.extend(unknown);
            (Just(fields).prop_shuffle(), Just(present), Just(bom))
        })
        .prop_map(|(fields, present, bom)| {
            let text = object(&fields);
            (if bom { format!("\u{FEFF}{text}") } else { text }, present)
        })
}

fn user_answer() -> impl Strategy<Value = (String, Vec<String>, bool, Option<String>)> {
    (
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[a-z]{1,8}@[a-z]{1,8}\\.example",
        "[A-Za-zÀ-ÿ' -]{0,10}",
        any::<bool>(),
        any::<u64>(),
    )
        .prop_flat_map(|(id, upn, first, inactive, mask)| {
            let state = cased(if inactive { "inactive" } else { "active" }, mask);
            answer(
                vec![("id".into(), json!(id))],
                vec![
                    ("userPrincipalName".into(), json!(upn)),
                    ("firstName".into(), json!(first)),
                    ("lastName".into(), Value::Null),
                    ("state".into(), json!(state)),
                    (
                        "softDeletionTime".into(),
                        json!("2025-01-03T17:20:44.1234567Z"),
                    ),
                ],
            )
            .prop_map(move |(text, present)| (text, present, inactive, Some(upn.clone())))
        })
}

proptest! {
    #[test]
    fn a_partner_center_user_reads_the_same_however_it_is_written(
        (text, present, inactive, upn) in user_answer()
    ) {
        let user: User = model::parse(text.as_bytes()).expect("a user");
        let has = |name: &str| present.iter().any(|p| p == name);
        prop_assert_eq!(user.user_principal_name.is_some(), has("userPrincipalName"));
        if has("userPrincipalName") {
            prop_assert_eq!(user.user_principal_name, upn);
        }
        prop_assert_eq!(user.last_name, None);
        let expected = if inactive { UserState::Inactive } else { UserState::Active };
        prop_assert_eq!(user.state, has("state").then_some(expected));
        let deleted = user.soft_deletion_time.map(|t| t.parsed.is_some());
        prop_assert_eq!(deleted, has("softDeletionTime").then_some(true));
    }

    #[test]
    fn a_subscription_reads_its_enums_in_any_casing(
        status in prop::sample::select(vec!["active", "suspended", "deleted", "expired", "pending"]),
        cycle in prop::sample::select(vec!["monthly", "annual", "one_time", "triennial"]),
        masks in (any::<u64>(), any::<u64>()),
        quantity in 0..100_000i64,
        unknown in unknown_fields(),
    ) {
        let mut fields = vec![
            ("id".to_owned(), json!("6b3f2c7e-0000-4000-8000-000000000001")),
            ("status".to_owned(), json!(cased(status, masks.0))),
            ("billingCycle".to_owned(), json!(cased(&cycle.replace('_', ""), masks.1))),
            ("quantity".to_owned(), json!(quantity)),
        ];
        fields.extend(unknown);
        fields.reverse();
        let subscription: Subscription = model::parse(object(&fields).as_bytes()).expect("read");
        prop_assert!(!matches!(subscription.status, Some(SubscriptionStatus::Unknown(_))));
        prop_assert_eq!(subscription.status, Some(SubscriptionStatus::parse(status)));
        prop_assert_eq!(subscription.billing_cycle, Some(BillingCycle::parse(cycle)));
        prop_assert_eq!(subscription.quantity, Some(quantity));
    }

    #[test]
    fn a_google_user_reads_the_same_however_it_is_written(
        (id, email, given, suspended) in ("[0-9]{21}", "[a-z]{1,8}@[a-z]{1,8}\\.example", "[A-Za-zÀ-ÿ]{0,10}", any::<bool>()),
        kept in proptest::collection::vec(any::<bool>(), 4),
        unknown in unknown_fields(),
        order in any::<u64>(),
    ) {
        let optional = [
            ("name", json!({ "givenName": given, "fullName": given, "unknownX": 1 })),
            ("suspended", json!(suspended)),
            ("deletionTime", json!("2025-01-03T17:20:44.000Z")),
            ("customerId", json!("C03az79cb")),
        ];
        let mut fields = vec![
            ("id".to_owned(), json!(id)),
            ("primaryEmail".to_owned(), json!(email)),
        ];
        for ((name, value), keep) in optional.iter().zip(&kept) {
            if *keep {
                fields.push(((*name).to_owned(), value.clone()));
            }
        }
        fields.extend(unknown);
        let turn = (order as usize) % fields.len();
        fields.rotate_left(turn);
        let user: DirectoryUser = serde_json::from_str(&object(&fields)).expect("a user");
        prop_assert_eq!(&user.id, &id);
        prop_assert_eq!(&user.primary_email, &email);
        prop_assert_eq!(user.name.given_name, kept[0].then_some(given));
        prop_assert_eq!(user.suspended, kept[1] && suspended);
        prop_assert_eq!(user.deletion_time.is_some(), kept[2]);
        prop_assert_eq!(user.customer_id.is_some(), kept[3]);
    }
}
