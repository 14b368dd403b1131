//! `ferry hierarchy`: Get Hierarchy through a running Ferry's API (`--server`, `--token`).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use ferry_datasets::report::write_record;

use crate::remote::{Api, follow, instance_named};

#[derive(Debug, Subcommand)]
pub enum HierarchyCommand {
    /// Retrieve an instance's resellers, tenants and subscriptions from Partner Center (all, or
    /// one tenant), follow it, and say what changed; exits 0 only when it completed.
    Get(GetArgs),
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The instance's name (`ferry instance list`).
    #[arg(long)]
    instance: String,
    /// Only this tenant, by its tenant id (a GUID).
    #[arg(long, conflicts_with = "domain")]
    tenant: Option<String>,
    /// Only this tenant, by its primary domain (`contoso.onmicrosoft.com`).
    #[arg(long)]
    domain: Option<String>,
    /// Print the job's id and return without following it.
    #[arg(long)]
    no_wait: bool,
}

pub async fn run(api: &Api, command: HierarchyCommand) -> anyhow::Result<()> {
    let HierarchyCommand::Get(args) = command;
    let id = instance_named(api, &args.instance).await?;
    let path = format!("/instances/{id}/hierarchy");
    let body = json!({ "tenant_id": args.tenant, "domain": args.domain });
    let started = api.call(reqwest::Method::POST, &path, Some(body)).await?;
    let job = started["job_id"].as_i64().context("no job in the answer")?;
    let run_id = started["run_id"]
        .as_i64()
        .context("no retrieval in the answer")?;
    if args.no_wait {
        println!("{job}");
        return Ok(());
    }
    follow(api, job).await?;
    let hierarchy = api.get(&path).await?;
    let run = hierarchy["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["id"] == run_id)
        .context("the retrieval is no longer listed")?;
    if run["state"] != "completed" {
        bail!(
            "{}",
            run["error"]
                .as_str()
                .unwrap_or("the retrieval did not complete")
        );
    }
    print_summary(run);
    Ok(())
}

/// "12 resellers, 20000 tenants, 61234 subscriptions", then what changed.
fn print_summary(run: &Value) {
    let s = &run["summary"];
    println!(
        "{} resellers, {} tenants, {} subscriptions",
        s["resellers"], s["tenants"], s["subscriptions"]
    );
    if run["scope"] == "tenant" {
        println!(
            "refreshed {}",
            run["tenant"].as_str().unwrap_or("one tenant")
        );
    } else if s["compared"] != true {
        println!("first retrieval: nothing to compare with");
    } else {
        let changes: Vec<String> = s["changes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(kind, n)| format!("{} {n}", kind.replace('_', " ")))
            .collect();
        if changes.is_empty() {
            println!("nothing changed since the last retrieval");
        } else {
            println!("changed since the last retrieval: {}", changes.join(", "));
        }
    }
    if let Some(lacks) = run["lacks"].as_str() {
        println!("not read: {lacks}");
    }
}

#[derive(Debug, Args)]
pub struct TenantsArgs {
    /// The instance's name (`ferry instance list`).
    #[arg(long)]
    instance: String,
    /// Only tenants that stand so.
    #[arg(long, value_parser = ["synced", "out-of-sync", "not-imported"])]
    status: Option<String>,
    /// Only customers, only end customers of this marketplace's tenant resellers, or only
    /// indirect resellers; all of them without it.
    #[arg(long = "type", value_parser = ["customer", "reseller", "tenant-reseller"])]
    kind: Option<String>,
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    format: String,
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// The instance's tenants as this marketplace's audit sees them (after `ferry hierarchy get`).
    List(TenantsArgs),
}

pub async fn tenants(api: &Api, command: TenantsCommand) -> anyhow::Result<()> {
    let TenantsCommand::List(args) = command;
    let id = instance_named(api, &args.instance).await?;
    let path = format!("/instances/{id}/tenants");
    let mut items: Vec<Value> = Vec::new();
    if args.kind.as_deref().is_none_or(|k| k == "reseller") && args.status.is_none() {
        let resellers = api.get(&format!("{path}?type=reseller")).await?;
        items.extend(resellers["items"].as_array().into_iter().flatten().cloned());
    }
    if args.kind.as_deref() != Some("reseller") {
        let mut after: Option<String> = None;
        loop {
            let mut query = vec!["limit=500".to_owned()];
            if let Some(status) = &args.status {
                query.push(format!("status={status}"));
            }
            if let Some(kind) = &args.kind {
                query.push(format!("type={kind}"));
            }
            if let Some(after) = &after {
                query.push(format!("after={}", encode(after)));
            }
            let page = api.get(&format!("{path}?{}", query.join("&"))).await?;
            items.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
    }
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&items)?),
        "csv" => print_csv(&items),
        _ => print_table(&items),
    }
    Ok(())
}

/// Percent-encodes a cursor for the query string.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A tenant's Related Accounts, or the tenant reseller that holds it.
fn related(t: &Value) -> String {
    match t["tenant_reseller"]["name"].as_str() {
        Some(holder) => format!("tenant reseller {holder}"),
        None => companies(&t["related_companies"]),
    }
}

fn companies(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A JSON value as a table or CSV cell: text as it is, nothing for null.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_table(items: &[Value]) {
    println!(
        "{:<15} {:<32} {:<36} {:<13} {:>9}  RELATED",
        "TYPE", "NAME", "TENANT ID", "STATUS", "PC / MP"
    );
    for t in items {
        let counts = match t["type"].as_str() {
            Some("reseller") => format!("{} customers", t["end_customers"]),
            _ => format!(
                "{} / {}",
                t["subscriptions"]["partner_center"], t["subscriptions"]["marketplace"]
            ),
        };
        println!(
            "{:<15} {:<32} {:<36} {:<13} {counts:>9}  {}",
            text(&t["type"]),
            text(&t["name"]).chars().take(32).collect::<String>(),
            text(&t["tenant_id"]),
            text(&t["status"]),
            related(t)
        );
    }
}

fn print_csv(items: &[Value]) {
    let mut out = Vec::new();
    let header = [
        "type",
        "tenant_id",
        "name",
        "domain",
        "reseller_tenant_id",
        "mpn_id",
        "status",
        "partner_center_subscriptions",
        "marketplace_subscriptions",
        "related_companies",
        "tenant_reseller",
        "possible_matches",
    ];
    write_record(&mut out, header);
    for t in items {
        // A reseller's own MPN id, or a customer's reseller's.
        let mpn = t["mpn_id"].as_str().or(t["reseller_mpn_id"].as_str());
        let row = [
            text(&t["type"]),
            text(&t["tenant_id"]),
            text(&t["name"]),
            text(&t["domain"]),
            text(&t["reseller_tenant_id"]),
            mpn.unwrap_or_default().to_owned(),
            text(&t["status"]),
            text(&t["subscriptions"]["partner_center"]),
            text(&t["subscriptions"]["marketplace"]),
            companies(&t["related_companies"]),
            text(&t["tenant_reseller"]["name"]),
            companies(&t["possible_matches"]),
        ];
        write_record(&mut out, row.iter().map(String::as_str));
    }
    print!("{}", String::from_utf8_lossy(&out));
}
