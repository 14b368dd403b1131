//! `ferry sync`: Company Sync and Pending Companies through a running Ferry's API
//! (`--server`, `--token`).

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use ferry_datasets::report::write_record;
use serde_json::{Map, Value, json};

use crate::hierarchy::{encode, text};
use crate::remote::{Api, follow, instance_named};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Change the Company Sync settings given, then print them all.
    Settings(SettingsArgs),
    /// Run User Sync now (or join the one under way) and print what it changed.
    Users {
        /// Print the job's id and return without following it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Run a sync now (or join the one under way) and print what it found.
    Now {
        /// Print the job's id and return without following it.
        #[arg(long)]
        no_wait: bool,
    },
    /// The tenants waiting in Pending Companies, with their suggestions.
    Pending {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Any part of the name, domain or contact, or the start of the tenant id.
        #[arg(long)]
        search: Option<String>,
        /// Which tenants: pending (waiting), dismissed, creating, created or linked.
        #[arg(long, default_value = "pending")]
        state: String,
    },
    /// Create the companies of waiting tenants (their ids in `ferry sync pending`).
    Create {
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Return once the creation has started.
        #[arg(long)]
        no_wait: bool,
    },
    /// Link a waiting tenant to a company of the marketplace.
    Link { pending_id: i64, company_id: i64 },
    /// Dismiss waiting tenants (`--undo` brings them back).
    Dismiss {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[arg(long)]
        undo: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        matches!(self, Switch::On)
    }
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[arg(long, value_enum)]
    company_sync: Option<Switch>,
    #[arg(long, value_enum)]
    create_automatically: Option<Switch>,
    #[arg(long, value_enum)]
    invite_admins: Option<Switch>,
    #[arg(long, value_enum)]
    sales_support_pending: Option<Switch>,
    #[arg(long, value_enum)]
    customer_support_pending: Option<Switch>,
    /// Minutes between syncs (5 to 10,080).
    #[arg(long)]
    interval_minutes: Option<i32>,
    /// The instance to follow, by name; `all` for every instance the marketplace uses.
    #[arg(long)]
    instance: Option<String>,
    /// User Sync from Partner Center.
    #[arg(long, value_enum)]
    user_sync_partner_center: Option<Switch>,
    /// User Sync from Google Workspace.
    #[arg(long, value_enum)]
    user_sync_google: Option<Switch>,
    /// Minutes between User Syncs (5 to 10,080).
    #[arg(long)]
    user_interval_minutes: Option<i32>,
    /// One activation e-mail to migrated users who have not registered, two days on.
    #[arg(long, value_enum)]
    registration_reminders: Option<Switch>,
}

pub async fn run(api: &Api, command: SyncCommand) -> anyhow::Result<()> {
    match command {
        SyncCommand::Settings(args) => settings(api, args).await,
        SyncCommand::Now { no_wait } => now(api, no_wait).await,
        SyncCommand::Users { no_wait } => users(api, no_wait).await,
        SyncCommand::Pending {
            format,
            search,
            state,
        } => pending(api, format, search, &state).await,
        SyncCommand::Create { ids, no_wait } => create(api, &ids, no_wait).await,
        SyncCommand::Link {
            pending_id,
            company_id,
        } => {
            let linked = api
                .call(
                    reqwest::Method::POST,
                    &format!("/sync/pending/{pending_id}/link"),
                    Some(json!({ "company_id": company_id })),
                )
                .await?;
            println!(
                "{} linked to {}",
                text(&linked["name"]),
                text(&linked["company_name"])
            );
            Ok(())
        }
        SyncCommand::Dismiss { ids, undo } => {
            let action = if undo { "restore" } else { "dismiss" };
            for id in ids {
                let done = api.post(&format!("/sync/pending/{id}/{action}")).await?;
                println!("{id} {}: {}", text(&done["name"]), text(&done["state"]));
            }
            Ok(())
        }
    }
}

async fn settings(api: &Api, args: SettingsArgs) -> anyhow::Result<()> {
    let mut change = Map::new();
    for (key, switch) in [
        ("company_sync", args.company_sync),
        ("create_automatically", args.create_automatically),
        ("invite_admins", args.invite_admins),
        ("sales_support_pending", args.sales_support_pending),
        ("customer_support_pending", args.customer_support_pending),
        ("user_sync_partner_center", args.user_sync_partner_center),
        ("user_sync_google", args.user_sync_google),
        ("registration_reminders", args.registration_reminders),
    ] {
        if let Some(switch) = switch {
            change.insert(key.into(), json!(switch.on()));
        }
    }
    if let Some(minutes) = args.interval_minutes {
        change.insert("interval_minutes".into(), json!(minutes));
    }
    if let Some(minutes) = args.user_interval_minutes {
        change.insert("user_interval_minutes".into(), json!(minutes));
    }
    match args.instance.as_deref() {
        Some("all") => {
            change.insert("all_instances".into(), json!(true));
        }
        Some(name) => {
            change.insert(
                "instance_id".into(),
                json!(instance_named(api, name).await?),
            );
        }
        None => {}
    }
    if !change.is_empty() {
        api.call(
            reqwest::Method::PUT,
            "/sync/settings",
            Some(Value::Object(change)),
        )
        .await?;
    }
    let s = api.get("/sync/settings").await?;
    let switch = |key: &str| if s[key] == true { "on" } else { "off" };
    let instance = match s["instance_id"].as_i64() {
        Some(id) => format!("instance {id}"),
        None => "every instance".into(),
    };
    println!("company sync               {}", switch("company_sync"));
    println!(
        "create automatically       {}",
        switch("create_automatically")
    );
    println!("invite admins              {}", switch("invite_admins"));
    println!(
        "sales support pending      {}",
        switch("sales_support_pending")
    );
    println!(
        "customer support pending   {}",
        switch("customer_support_pending")
    );
    println!(
        "interval                   {} minutes",
        s["interval_minutes"]
    );
    println!("follows                    {instance}");
    println!(
        "user sync partner center   {}",
        switch("user_sync_partner_center")
    );
    println!("user sync google           {}", switch("user_sync_google"));
    println!(
        "user sync interval         {} minutes",
        s["user_interval_minutes"]
    );
    if s["company_sync"] != true {
        println!("(Company Sync is off: nothing is synced and the other settings have no effect.)");
    }
    Ok(())
}

async fn now(api: &Api, no_wait: bool) -> anyhow::Result<()> {
    let started = api.post("/sync/runs").await?;
    let job = started["job_id"].as_i64().context("no job in the answer")?;
    if started["joined"] == true {
        eprintln!("a sync was already under way: following it");
    }
    if no_wait {
        println!("{job}");
        return Ok(());
    }
    let ended = follow(api, job).await?;
    let runs = api.get("/sync/runs?limit=20").await?;
    let run = runs
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["job_id"] == job);
    match run {
        Some(r) => {
            println!(
                "sync {}: {}: {} tenants not imported, {} new pending, {} created, {} found \
                 linked, {} gone",
                r["id"],
                text(&r["state"]),
                r["tenants"],
                r["new_pending"],
                r["created"],
                r["linked"],
                r["gone"]
            );
            if r["state"] == "failed" {
                bail!("{}", text(&r["error"]));
            }
        }
        None => bail!(
            "the sync did not run ({}): is Company Sync on?",
            text(&ended["state"])
        ),
    }
    Ok(())
}

async fn users(api: &Api, no_wait: bool) -> anyhow::Result<()> {
    let started = api.post("/sync/users").await?;
    let job = started["job_id"].as_i64().context("no job in the answer")?;
    if started["joined"] == true {
        eprintln!("a User Sync was already under way: following it");
    }
    if no_wait {
        println!("{job}");
        return Ok(());
    }
    follow(api, job).await?;
    let runs = api.get("/sync/users?limit=20").await?;
    let Some(r) = runs
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["job_id"] == job)
    else {
        bail!("the User Sync did not run: is it on?");
    };
    println!(
        "user sync {}: {}: {} created, {} updated, {} suspended, {} reactivated, {} conflicts \
         ({} companies)",
        r["id"],
        text(&r["state"]),
        r["created"],
        r["updated"],
        r["suspended"],
        r["reactivated"],
        r["conflicts"],
        r["companies"]
    );
    for note in r["notes"].as_array().into_iter().flatten() {
        eprintln!("{}", text(note));
    }
    if r["state"] == "failed" {
        bail!("{}", text(&r["error"]));
    }
    Ok(())
}

async fn pending(
    api: &Api,
    format: Format,
    search: Option<String>,
    state: &str,
) -> anyhow::Result<()> {
    let mut items: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![format!("limit=500&state={}", encode(state))];
        if let Some(q) = &search {
            query.push(format!("q={}", encode(q)));
        }
        if let Some(after) = &after {
            query.push(format!("after={}", encode(after)));
        }
        let page = api
            .get(&format!("/sync/pending?{}", query.join("&")))
            .await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&items)?),
        Format::Csv => print_csv(&items),
        Format::Table => print_table(&items),
    }
    Ok(())
}

async fn create(api: &Api, ids: &[i64], no_wait: bool) -> anyhow::Result<()> {
    let started = api
        .call(
            reqwest::Method::POST,
            "/sync/pending/create",
            Some(json!({ "ids": ids })),
        )
        .await?;
    for import in started["imports"].as_array().into_iter().flatten() {
        println!(
            "import {}: {} tenants",
            import["import_id"], import["tenants"]
        );
        if !no_wait && let Some(job) = import["job_id"].as_i64() {
            follow(api, job).await?;
        }
    }
    for id in ids {
        let p = api.get(&format!("/sync/pending/{id}")).await?;
        println!(
            "{id} {}: {} {}",
            text(&p["name"]),
            text(&p["state"]),
            text(&p["company_name"])
        );
    }
    Ok(())
}

/// The best suggestion: "Fabrikam (92)".
fn best(p: &Value) -> String {
    p["suggestions"]
        .as_array()
        .and_then(|s| s.first())
        .map(|s| format!("{} ({})", text(&s["company_name"]), s["score"]))
        .unwrap_or_default()
}

fn print_table(items: &[Value]) {
    println!(
        "{:>6} {:<32} {:<36} {:<28} {:<7}  MATCH",
        "ID", "NAME", "TENANT ID", "DOMAIN", "COUNTRY"
    );
    for p in items {
        println!(
            "{:>6} {:<32} {:<36} {:<28} {:<7}  {}",
            p["id"],
            text(&p["name"]).chars().take(32).collect::<String>(),
            text(&p["tenant_id"]),
            text(&p["domain"]).chars().take(28).collect::<String>(),
            text(&p["country"]),
            best(p)
        );
    }
}

fn print_csv(items: &[Value]) {
    let mut out = Vec::new();
    write_record(
        &mut out,
        [
            "id",
            "tenant_id",
            "name",
            "domain",
            "country",
            "contact_name",
            "contact_email",
            "first_seen",
            "state",
            "match",
            "best_score",
            "suggestions",
        ],
    );
    for p in items {
        let suggestions: Vec<String> = p["suggestions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("{} ({})", text(&s["company_name"]), s["score"]))
            .collect();
        let row = [
            text(&p["id"]),
            text(&p["tenant_id"]),
            text(&p["name"]),
            text(&p["domain"]),
            text(&p["country"]),
            text(&p["contact_name"]),
            text(&p["contact_email"]),
            text(&p["first_seen"]),
            text(&p["state"]),
            text(&p["match"]),
            text(&p["best_score"]),
            suggestions.join("; "),
        ];
        write_record(&mut out, row.iter().map(String::as_str));
    }
    print!("{}", String::from_utf8_lossy(&out));
}
