//! A record's History, newest first, as sentences: the audit log (edits on pages and through
//! the API, by person or token) and what datasets did to it (created it; changed which fields
//! from what to what), each dataset named and linked.

use ferry_storage::{AuditEntry, DatasetChange, DatasetRef};
use serde_json::Value;

use crate::AppState;
use crate::error::PageError;
use crate::web::{Scope, when};

/// One line of History.
pub struct HistoryLine {
    at: i64,
    pub when: String,
    pub who: String,
    /// Where `who` is, when it is a dataset that still exists.
    pub link: Option<String>,
    pub what: String,
}

/// Where a record came from, as it keeps it (`origin_kind`, `origin_ref`, when).
pub struct Provenance<'a> {
    pub kind: &'a str,
    pub reference: Option<i64>,
    pub at: ferry_domain::Timestamp,
}

/// The History of one `entity` ("company" or "user") of the scope's marketplace.
pub async fn history(
    state: &AppState,
    scope: &Scope,
    entity: &str,
    id: i64,
    origin: &Provenance<'_>,
) -> Result<Vec<HistoryLine>, PageError> {
    let mut lines = Vec::new();
    let dataset = |dataset_id: i64| dataset_named(state, scope, dataset_id);
    if let ("dataset", Some(dataset_id)) = (origin.kind, origin.reference) {
        let (who, link) = dataset(dataset_id).await?;
        lines.push(line(
            origin.at.millis(),
            who,
            link,
            format!("created this {entity}"),
        ));
    }
    for change in state.store.dataset_changes_of(entity, id).await? {
        let (who, link) = dataset(change.dataset_id).await?;
        lines.push(line(
            change.at.millis(),
            who,
            link,
            dataset_sentence(&change, entity),
        ));
    }
    let tokens = state.store.api_tokens(scope.id()).await?;
    // A record's lines are mostly by a few people: each is looked up once.
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for entry in state.store.audit_trail(entity, id).await? {
        let who = match names.get(&entry.actor) {
            Some(name) => name.clone(),
            None => {
                let name = actor_name(state, scope, &entry.actor, &tokens).await?;
                names.insert(entry.actor.clone(), name.clone());
                name
            }
        };
        lines.push(line(
            entry.at.millis(),
            who,
            None,
            audit_sentence(&entry, entity),
        ));
    }
    lines.sort_by_key(|l| std::cmp::Reverse(l.at));
    Ok(lines)
}

/// A dataset as History and origins name it, with its page; or that it is gone.
async fn dataset_named(
    state: &AppState,
    scope: &Scope,
    dataset_id: i64,
) -> Result<(String, Option<String>), PageError> {
    let found = state
        .store
        .dataset(DatasetRef {
            marketplace_id: scope.id(),
            dataset_id,
        })
        .await?;
    Ok(match found {
        Some(d) => (
            format!("Dataset {}", d.name),
            Some(format!("{}/datasets/{dataset_id}", scope.base())),
        ),
        None => (format!("Dataset #{dataset_id}, since deleted"), None),
    })
}

/// Where a record came from, in words, with the page of what created it when it has one.
pub async fn origin_of(
    state: &AppState,
    scope: &Scope,
    origin: &Provenance<'_>,
) -> Result<(String, Option<String>), PageError> {
    Ok(match (origin.kind, origin.reference) {
        ("dataset", Some(id)) => dataset_named(state, scope, id).await?,
        ("manual", _) => ("Created by hand".to_owned(), None),
        ("demo", _) => ("The demo's data".to_owned(), None),
        ("import", Some(id)) => (
            format!("Imported from Partner Center (import #{id})"),
            Some(format!("{}/imports/{id}", scope.base())),
        ),
        (kind, Some(id)) => (format!("{kind} #{id}"), None),
        (kind, None) => (kind.to_owned(), None),
    })
}

fn line(at: i64, who: String, link: Option<String>, what: String) -> HistoryLine {
    HistoryLine {
        at,
        when: when(ferry_domain::Timestamp(at)),
        who,
        link,
        what,
    }
}

/// The person or token of an audit line ("user:13 ann@…", "api-token:4", "platform-admin:1 …").
pub(super) async fn actor_name(
    state: &AppState,
    scope: &Scope,
    actor: &str,
    tokens: &[ferry_storage::ApiToken],
) -> Result<String, PageError> {
    let (kind, rest) = actor.split_once(':').unwrap_or((actor, ""));
    let (id, email) = rest.split_once(' ').unwrap_or((rest, ""));
    let id: Option<i64> = id.parse().ok();
    Ok(match (kind, id) {
        ("user", Some(id)) => match state.store.user(scope.id(), id).await? {
            Some(user) => user.display_name(),
            None => email.to_owned(),
        },
        ("api-token", Some(id)) => match tokens.iter().find(|t| t.id == id) {
            Some(token) => format!("API token “{}”", token.name),
            None => format!("API token #{id}"),
        },
        ("platform-admin", _) => format!("{email} (platform admin)"),
        _ => actor.to_owned(),
    })
}

fn audit_sentence(entry: &AuditEntry, entity: &str) -> String {
    let verb = entry.action.rsplit('.').next().unwrap_or(&entry.action);
    let changed = fields_changed(&entry.changes);
    match verb {
        "tenant_linked" => format!(
            "linked Microsoft tenant {} ({}) to this {entity} from {}",
            entry.changes["tenant_name"].as_str().unwrap_or("?"),
            entry.changes["tenant_id"].as_str().unwrap_or("?"),
            entry.changes["from"].as_str().unwrap_or("a form")
        ),
        "google_linked" => match (
            entry.changes["google_customer_id"].as_str(),
            entry.changes["google_domain"].as_str(),
        ) {
            (Some(id), _) => format!("linked this {entity} to Google Workspace customer {id}"),
            (None, Some(domain)) => {
                format!("linked this {entity} to Google Workspace domain {domain}")
            }
            (None, None) => format!("unlinked this {entity} from Google Workspace"),
        },
        "updated" if !changed.is_empty() => format!("changed {changed}"),
        "updated" => format!("saved this {entity} unchanged"),
        verb => format!("{verb} this {entity}"),
    }
}

/// "phone from — to +43 1 234, street from Main St to Ring 1": fields given as
/// `{"field": {"from": …, "to": …}}`.
fn fields_changed(changes: &Value) -> String {
    let Some(fields) = changes.as_object() else {
        return String::new();
    };
    fields
        .iter()
        .filter_map(|(field, v)| Some(from_to(field, v.get("from")?, v.get("to")?)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dataset_sentence(change: &DatasetChange, entity: &str) -> String {
    let (Some(before), Some(after)) = (change.before.as_object(), change.after.as_ref()) else {
        return format!("updated this {entity}");
    };
    let changed: Vec<String> = before
        .iter()
        .filter(|(field, _)| *field != "updated_at")
        .filter_map(|(field, old)| {
            let new = after.get(field)?;
            (!same(old, new)).then(|| from_to(field, old, new))
        })
        .collect();
    if changed.is_empty() {
        format!("updated this {entity}, changing nothing shown here")
    } else {
        format!("changed {}", changed.join(", "))
    }
}

fn from_to(field: &str, from: &Value, to: &Value) -> String {
    format!("{} from {} to {}", label(field), shown(from), shown(to))
}

/// A stored field as the company and user pages name it.
fn label(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("billing_") {
        return format!("billing {}", label(rest));
    }
    match field {
        "street1" => "street".to_owned(),
        "street2" => "street, line 2".to_owned(),
        "zip" => "postal code".to_owned(),
        "email" => "e-mail".to_owned(),
        "allow_login" => "sign-in allowed".to_owned(),
        other => other.replace('_', " "),
    }
}

/// Equal as people see them: a boolean stored as 1 is `true`, and JSON kept as text is JSON.
fn same(a: &Value, b: &Value) -> bool {
    shown(a) == shown(b)
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "—".to_owned(),
        Value::String(s) if s.is_empty() => "—".to_owned(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ Value::Object(_)) => shown(&inner),
            _ => s.clone(),
        },
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Object(map) if map.is_empty() => "—".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dataset_change_reads_as_a_sentence() {
        let change = DatasetChange {
            dataset_id: 1,
            dataset_name: "Spring".into(),
            at: ferry_domain::Timestamp(0),
            before: json!({ "phone": null, "street1": "Main St", "city": "Graz", "updated_at": 1 }),
            after: Some(
                json!({ "phone": "+43 1", "street1": "Ring 1", "city": "Graz", "updated_at": 2 }),
            ),
        };
        assert_eq!(
            dataset_sentence(&change, "company"),
            "changed phone from — to +43 1, street from Main St to Ring 1"
        );
    }
}
