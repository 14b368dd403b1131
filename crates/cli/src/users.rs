//! `ferry users`: the marketplace's users and invitations through a running Ferry's API
//! (`--server`, `--token`).

use anyhow::Context;
use clap::Subcommand;
use ferry_datasets::report::write_record;
use serde_json::{Value, json};

use crate::hierarchy::{encode, text};
use crate::remote::{Api, follow};
use crate::sync::Format;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// The users, in e-mail order.
    List {
        /// Only the users User Sync created who were never invited.
        #[arg(long)]
        synced_not_invited: bool,
        /// Only the members of this company.
        #[arg(long)]
        company: Option<i64>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Invite users (an e-mail each, through the outbox), as a job; active, suspended and
    /// managed users are passed over.
    Invite {
        #[arg(
            required_unless_present = "all_synced_not_invited",
            conflicts_with = "all_synced_not_invited"
        )]
        user_ids: Vec<i64>,
        /// Every user User Sync created who was never invited.
        #[arg(long)]
        all_synced_not_invited: bool,
        /// Print the job's id and return without following it.
        #[arg(long)]
        no_wait: bool,
    },
}

pub async fn run(api: &Api, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::List {
            synced_not_invited,
            company,
            format,
        } => list(api, synced_not_invited, company, format).await,
        UsersCommand::Invite {
            user_ids,
            all_synced_not_invited,
            no_wait,
        } => {
            let body = if all_synced_not_invited {
                json!({ "all_synced_not_invited": true })
            } else {
                json!({ "user_ids": user_ids })
            };
            let started = api
                .call(reqwest::Method::POST, "/invitations", Some(body))
                .await?;
            let job = started["job_id"].as_i64().context("no job in the answer")?;
            if no_wait {
                println!("{job}");
                return Ok(());
            }
            let ended = follow(api, job).await?;
            println!(
                "invitations: {}",
                ended["progress"]["message"].as_str().unwrap_or("done")
            );
            Ok(())
        }
    }
}

async fn list(
    api: &Api,
    synced_not_invited: bool,
    company: Option<i64>,
    format: Format,
) -> anyhow::Result<()> {
    let mut filters = vec!["limit=500".to_owned()];
    if synced_not_invited {
        filters.push("origin=sync&invited=false".into());
    }
    if let Some(company) = company {
        filters.push(format!("company_id={company}"));
    }
    let mut items: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = filters.clone();
        if let Some(after) = &after {
            query.push(format!("after={}", encode(after)));
        }
        let page = api.get(&format!("/users?{}", query.join("&"))).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&items)?),
        Format::Csv => {
            let mut out = Vec::new();
            let header = [
                "id",
                "email",
                "first_name",
                "last_name",
                "status",
                "origin",
                "invited",
            ];
            write_record(&mut out, header);
            for u in &items {
                let row: Vec<String> = header.iter().map(|field| text(&u[*field])).collect();
                write_record(&mut out, row.iter().map(String::as_str));
            }
            print!("{}", String::from_utf8_lossy(&out));
        }
        Format::Table => {
            println!(
                "{:>6} {:<40} {:<28} {:<10} {:<8} INVITED",
                "ID", "E-MAIL", "NAME", "STATUS", "ORIGIN"
            );
            for u in &items {
                let name = format!("{} {}", text(&u["first_name"]), text(&u["last_name"]));
                println!(
                    "{:>6} {:<40} {:<28} {:<10} {:<8} {}",
                    u["id"],
                    text(&u["email"]),
                    name.trim(),
                    text(&u["status"]),
                    text(&u["origin"]),
                    if u["invited"] == true { "yes" } else { "no" }
                );
            }
        }
    }
    Ok(())
}
