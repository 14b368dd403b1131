//! `ferry google` and `ferry company`: the marketplace's Google Workspace connection and a
//! company's Workspace customer, for User Sync from Google Workspace (through a running Ferry's
//! API).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::hierarchy::text;
use crate::remote::Api;

#[derive(Debug, Subcommand)]
pub enum GoogleCommand {
    /// Save the Google connection and check it: prints whether Google gave a token, or why not.
    Connect {
        /// The service account's JSON key file, as Google Cloud downloads it.
        #[arg(long)]
        key_file: PathBuf,
        /// The Workspace admin the service account acts as (domain-wide delegation).
        #[arg(long)]
        admin: String,
        /// The Directory API (Google's when not given).
        #[arg(long)]
        api_url: Option<String>,
        /// The token endpoint (the key file's `token_uri` when not given).
        #[arg(long)]
        token_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CompanyCommand {
    /// Link a company to its Google Workspace customer, by customer id or primary domain.
    GoogleLink(GoogleLinkArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Customer {
    /// The Workspace customer id (`C0…`).
    #[arg(long)]
    customer: Option<String>,
    /// The Workspace's primary domain.
    #[arg(long)]
    domain: Option<String>,
    /// Remove the link.
    #[arg(long)]
    unlink: bool,
}

#[derive(Debug, Args)]
pub struct GoogleLinkArgs {
    company_id: i64,
    #[command(flatten)]
    customer: Customer,
}

pub async fn google(api: &Api, command: GoogleCommand) -> anyhow::Result<()> {
    let GoogleCommand::Connect {
        key_file,
        admin,
        api_url,
        token_url,
    } = command;
    let key = std::fs::read_to_string(&key_file)
        .with_context(|| format!("cannot read the key file {}", key_file.display()))?;
    let body =
        json!({ "key_file": key, "admin": admin, "api_url": api_url, "token_url": token_url });
    let saved = api
        .call(reqwest::Method::PUT, "/google/connection", Some(body))
        .await?;
    println!("service account  {}", text(&saved["client_email"]));
    println!("acting as        {}", text(&saved["admin"]));
    match saved["check_error"].as_str() {
        None => {
            println!("check            works: Google gave a token");
            Ok(())
        }
        Some(why) => bail!("the connection is saved, but {why}"),
    }
}

pub async fn company(api: &Api, command: CompanyCommand) -> anyhow::Result<()> {
    let CompanyCommand::GoogleLink(args) = command;
    let Customer {
        customer,
        domain,
        unlink: _,
    } = args.customer;
    let linked = api
        .call(
            reqwest::Method::PUT,
            &format!("/companies/{}/google", args.company_id),
            Some(json!({ "customer_id": customer, "domain": domain })),
        )
        .await?;
    match (linked["customer_id"].as_str(), linked["domain"].as_str()) {
        (Some(id), _) => println!(
            "company {} → Google Workspace customer {id}",
            args.company_id
        ),
        (None, Some(domain)) => {
            println!(
                "company {} → Google Workspace domain {domain}",
                args.company_id
            )
        }
        (None, None) => println!(
            "company {} is not linked to Google Workspace",
            args.company_id
        ),
    }
    Ok(())
}
