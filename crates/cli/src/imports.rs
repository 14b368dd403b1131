//! `ferry import` and `ferry results`: Import Customers runs through a running Ferry's API
//! (`--server`, `--token`).

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::remote::{Api, follow, instance_named};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The instance's name (`ferry instance list`).
    #[arg(long)]
    instance: String,
    /// Every tenant the instance's list shows not imported.
    #[arg(long, conflicts_with = "tenant", required_unless_present = "tenant")]
    all: bool,
    /// A tenant to import, by its tenant id (repeat for several).
    #[arg(long)]
    tenant: Vec<String>,
    /// Print the run's id and return without following it.
    #[arg(long)]
    no_wait: bool,
}

/// Starts a run, follows it, prints its counts per tab; fails only when the run failed.
pub async fn import(api: &Api, args: ImportArgs) -> anyhow::Result<()> {
    let instance = instance_named(api, &args.instance).await?;
    let body = if args.all {
        json!({ "instance_id": instance, "all": true })
    } else {
        json!({ "instance_id": instance, "tenant_ids": args.tenant })
    };
    let started = api
        .call(reqwest::Method::POST, "/imports", Some(body))
        .await?;
    let id = started["import_id"]
        .as_i64()
        .context("no run in the answer")?;
    if started["held"].as_i64().unwrap_or(0) > 0 {
        eprintln!(
            "{} selected tenants are in another import that has not finished: left out",
            started["held"]
        );
    }
    if args.no_wait {
        println!("{id}");
        return Ok(());
    }
    if let Some(job) = started["job_id"].as_i64() {
        follow(api, job).await?;
    }
    let run = api.get(&format!("/imports/{id}")).await?;
    let run = &run["import"];
    println!("import {id}: {}", run["state"].as_str().unwrap_or(""));
    print_counts(run);
    if run["state"] == "failed" {
        bail!("{}", run["error"].as_str().unwrap_or("the import failed"));
    }
    Ok(())
}

fn print_counts(run: &Value) {
    for (tab, c) in run["tabs"].as_object().into_iter().flatten() {
        println!(
            "  {tab:<16} {} completed, {} with errors, {} failed, {} pending",
            c["completed"], c["completed_with_errors"], c["failed"], c["pending"]
        );
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ResultsArgs {
    #[command(subcommand)]
    command: Option<ResultsCommand>,
    /// The run (`ferry results` lists them); the latest without it.
    run: Option<i64>,
    /// Only one tab.
    #[arg(long, value_parser = ["direct", "indirect", "tenant-reseller"])]
    tab: Option<String>,
    /// Write the results as CSV to this file (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ResultsCommand {
    /// Import again the subscriptions of a run that failed (after mapping their offers).
    Retry {
        run: i64,
        /// Print the run's id and return without following it.
        #[arg(long)]
        no_wait: bool,
    },
}

pub async fn results(api: &Api, args: ResultsArgs) -> anyhow::Result<()> {
    if let Some(ResultsCommand::Retry { run, no_wait }) = args.command {
        let started = api
            .call(
                reqwest::Method::POST,
                &format!("/imports/{run}/retry"),
                None,
            )
            .await?;
        if !no_wait && let Some(job) = started["job_id"].as_i64() {
            follow(api, job).await?;
        }
        let done = api.get(&format!("/imports/{run}")).await?;
        print_counts(&done["import"]);
        return Ok(());
    }
    let id = match args.run {
        Some(id) => id,
        None => api.get("/imports").await?[0]["id"]
            .as_i64()
            .context("no import has run in this marketplace")?,
    };
    if let Some(output) = args.output {
        let tab = args
            .tab
            .as_deref()
            .map(|t| format!("?tab={t}"))
            .unwrap_or_default();
        let path = format!("/imports/{id}/results.csv{tab}");
        let csv = api
            .send(api.request(reqwest::Method::GET, &path)?)
            .await?
            .bytes()
            .await?;
        if output == "-" {
            std::io::stdout().write_all(&csv)?;
        } else {
            std::fs::write(&output, csv).with_context(|| format!("cannot write {output}"))?;
        }
        return Ok(());
    }
    let tabs: Vec<&str> = match args.tab.as_deref() {
        Some(tab) => vec![tab],
        None => vec!["direct", "indirect", "tenant-reseller"],
    };
    let mut header = true;
    for tab in tabs {
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/imports/{id}?tab={tab}&limit=500");
            if let Some(after) = &after {
                path.push_str(&format!("&after={}", crate::hierarchy::encode(after)));
            }
            let page = api.get(&path).await?;
            if header {
                println!(
                    "import {id}: {}",
                    page["import"]["state"].as_str().unwrap_or("")
                );
                print_counts(&page["import"]);
                println!(
                    "\n{:<16} {:<32} {:<36} {:<22} SUBSCRIPTIONS",
                    "TAB", "TENANT", "TENANT ID", "STATUS"
                );
                header = false;
            }
            for t in page["tenants"].as_array().into_iter().flatten() {
                let subscriptions = t["subscriptions"].as_array().into_iter().flatten();
                let (mut imported, mut skipped, mut failed) = (0, 0, 0);
                for s in subscriptions {
                    match s["outcome"].as_str() {
                        Some("imported") => imported += 1,
                        Some("skipped") => skipped += 1,
                        _ => failed += 1,
                    }
                }
                println!(
                    "{tab:<16} {:<32} {:<36} {:<22} {imported} imported, {skipped} skipped, {failed} failed",
                    t["name"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(32)
                        .collect::<String>(),
                    t["tenant_id"].as_str().unwrap_or(""),
                    t["status"].as_str().unwrap_or("")
                );
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
    }
    Ok(())
}
