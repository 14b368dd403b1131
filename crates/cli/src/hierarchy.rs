//! `ferry hierarchy`: Get Hierarchy through a running Ferry's API (`--server`, `--token`).

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::datasets::bar;
use crate::remote::{Api, instance_named};

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
    let bar = bar(0, "{msg:60} [{bar:30}] {pos}/{len}");
    loop {
        let status = api.get(&format!("/jobs/{job}")).await?;
        bar.set_length(status["progress"]["total"].as_u64().unwrap_or(0));
        bar.set_position(status["progress"]["done"].as_u64().unwrap_or(0));
        bar.set_message(
            status["progress"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        );
        if !matches!(status["state"].as_str(), Some("queued" | "running")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bar.finish_and_clear();
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
