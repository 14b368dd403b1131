//! `ferry dataset …`: datasets through a running Ferry's API, with progress bars on a terminal.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ferry_datasets::{DataType, template, template_guide};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::remote::Api;

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Upload a dataset, then follow its validation and activation.
    Upload(Box<Upload>),
    /// The marketplace's datasets, newest first.
    List,
    /// One dataset: its state, files, plan and counts.
    Show { id: i64 },
    /// Save a dataset's report.
    Report {
        id: i64,
        /// Where to write it (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Activate a validated dataset and follow it.
    Activate { id: i64 },
    /// Deny a validated dataset.
    Deny { id: i64 },
    /// Delete a dataset, its files and report.
    Delete {
        id: i64,
        /// Also remove what it created and restore what it updated.
        #[arg(long)]
        undo: bool,
    },
    /// Print the template of a data type (`users`, `companies`, …, `orders`); `--guide`
    /// describes it.
    Template {
        data_type: String,
        #[arg(long)]
        guide: bool,
    },
}

#[derive(Debug, Args)]
pub struct Upload {
    /// The batch name.
    #[arg(long)]
    name: String,
    /// Send each activated subscription to its edition's connector.
    #[arg(long)]
    provision: bool,
    /// Stop at Validated with a plan, and wait for `ferry dataset activate`.
    #[arg(long)]
    review: bool,
    /// Print the dataset's id and return at once.
    #[arg(long)]
    no_wait: bool,
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    companies: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    memberships: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    reseller_associations: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    company_entitlements: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    user_entitlements: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    microsoft_customers: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    microsoft_subscriptions: Option<PathBuf>,
    /// An order dataset's Bulk Data file (alone).
    #[arg(long, value_name = "FILE")]
    orders: Option<PathBuf>,
}

impl Upload {
    /// The files given, with the part each goes in.
    fn files(&self) -> Vec<(&'static str, &Path)> {
        [
            (DataType::Users, &self.users),
            (DataType::Companies, &self.companies),
            (DataType::Memberships, &self.memberships),
            (DataType::ResellerAssociations, &self.reseller_associations),
            (DataType::CompanyEntitlements, &self.company_entitlements),
            (DataType::UserEntitlements, &self.user_entitlements),
            (DataType::MicrosoftCustomers, &self.microsoft_customers),
            (
                DataType::MicrosoftSubscriptions,
                &self.microsoft_subscriptions,
            ),
            (DataType::Orders, &self.orders),
        ]
        .into_iter()
        .filter_map(|(t, path)| path.as_deref().map(|p| (t.part(), p)))
        .collect()
    }
}

pub async fn run(api: &Api, command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::Upload(upload) => upload_dataset(api, *upload).await,
        DatasetCommand::List => {
            let all = api.get("/datasets").await?;
            println!(
                "{:<6} {:<28} {:<22} {:>8}  CREATED BY",
                "ID", "NAME", "STATE", "ROWS"
            );
            for d in all.as_array().into_iter().flatten() {
                let rows: i64 = d["files"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["rows"].as_i64())
                    .sum();
                println!(
                    "{:<6} {:<28} {:<22} {rows:>8}  {}",
                    d["id"],
                    d["name"].as_str().unwrap_or(""),
                    d["state_label"].as_str().unwrap_or(""),
                    d["creator"].as_str().unwrap_or(""),
                );
            }
            Ok(())
        }
        DatasetCommand::Show { id } => {
            print_dataset(&api.get(&format!("/datasets/{id}")).await?);
            Ok(())
        }
        DatasetCommand::Report { id, output } => {
            let request = api.request(reqwest::Method::GET, &format!("/datasets/{id}/report"))?;
            let mut response = api.send(request).await?;
            let mut out: Box<dyn Write> = if output.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(&output)
                        .with_context(|| format!("cannot write {}", output.display()))?,
                ))
            };
            // A reader that stops early (`report -o - | head`) ends the command quietly.
            let quiet = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
            while let Some(chunk) = response.chunk().await.context("the report broke off")? {
                match out.write_all(&chunk) {
                    Err(e) if quiet(&e) => return Ok(()),
                    written => written?,
                }
            }
            match out.flush() {
                Err(e) if quiet(&e) => Ok(()),
                flushed => Ok(flushed?),
            }
        }
        DatasetCommand::Activate { id } => {
            let started = api.post(&format!("/datasets/{id}/activate")).await?;
            let job = started["job_id"].as_i64().context("no job in the answer")?;
            finish(api, id, job, false).await
        }
        DatasetCommand::Deny { id } => {
            let denied = api.post(&format!("/datasets/{id}/deny")).await?;
            println!("{}", denied["state_label"].as_str().unwrap_or("Denied"));
            Ok(())
        }
        DatasetCommand::Delete { id, undo } => {
            let request = api.request(
                reqwest::Method::DELETE,
                &format!("/datasets/{id}?undo={undo}"),
            )?;
            let answer = api.send(request).await?;
            if !undo {
                return Ok(());
            }
            // The undo runs as a job: wait for it and say what it did.
            let accepted: Value = answer.json().await?;
            let job = accepted["job_id"]
                .as_i64()
                .context("no job in the answer")?;
            let status = loop {
                let status = api.get(&format!("/jobs/{job}")).await?;
                if !matches!(status["state"].as_str(), Some("queued" | "running")) {
                    break status;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            };
            match status["state"].as_str() {
                Some("succeeded") => {
                    println!(
                        "{}",
                        status["progress"]["message"].as_str().unwrap_or("Undone")
                    );
                    Ok(())
                }
                _ => bail!(
                    "the undo ended {}: {}",
                    status["state"].as_str().unwrap_or("unknown"),
                    status["last_error"].as_str().unwrap_or("no reason given")
                ),
            }
        }
        DatasetCommand::Template { data_type, guide } => {
            // As the page writes it too: `USERS`, `company-entitlements`, `users.csv`.
            let part = data_type
                .to_ascii_lowercase()
                .trim_end_matches(".csv")
                .replace('-', "_");
            let data_type = DataType::from_part(&part).with_context(|| {
                format!(
                    "no data type '{data_type}': one of {}",
                    DataType::uploaded()
                        .map(DataType::part)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            if guide {
                print!("{}", template_guide(data_type));
            } else {
                print!("{}", template(data_type));
            }
            Ok(())
        }
    }
}

async fn upload_dataset(api: &Api, upload: Upload) -> anyhow::Result<()> {
    let files = upload.files();
    if files.is_empty() {
        bail!("give at least one file: --users FILE, --companies FILE, … or --orders FILE");
    }
    let mut total = 0;
    for (_, path) in &files {
        total += std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
    }
    let bar = bar(
        total,
        "{msg:12} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec})",
    );
    bar.set_message("uploading");
    let mut form = reqwest::multipart::Form::new()
        .text("name", upload.name.clone())
        .text("provision", upload.provision.to_string())
        .text("review", upload.review.to_string());
    for (part, path) in files {
        let file_name = path.file_name().map_or_else(
            || format!("{part}.csv"),
            |n| n.to_string_lossy().into_owned(),
        );
        let length = std::fs::metadata(path)?.len();
        let body = reqwest::Body::wrap_stream(file_stream(path, bar.clone())?);
        let part_body = reqwest::multipart::Part::stream_with_length(body, length)
            .file_name(file_name)
            .mime_str("text/csv")?;
        form = form.part(part, part_body);
    }
    let request = api
        .request(reqwest::Method::POST, "/datasets")?
        .multipart(form);
    let created: Value = api.send(request).await?.json().await?;
    bar.finish_and_clear();
    let id = created["dataset_id"]
        .as_i64()
        .context("no dataset in the answer")?;
    let job = created["job_id"].as_i64().context("no job in the answer")?;
    if upload.no_wait {
        println!("{id}");
        return Ok(());
    }
    finish(api, id, job, upload.review).await
}

/// Follows a dataset's job with a progress bar, prints the outcome, and fails unless the
/// dataset reached a good end.
async fn finish(api: &Api, id: i64, mut job: i64, review: bool) -> anyhow::Result<()> {
    let bar = bar(0, "{msg:40} [{bar:30}] {pos}/{len}");
    let dataset = loop {
        let dataset = api.get(&format!("/datasets/{id}")).await?;
        if let Some(current) = dataset["job_id"].as_i64() {
            job = current;
        }
        let status = api.get(&format!("/jobs/{job}")).await?;
        bar.set_length(status["progress"]["total"].as_u64().unwrap_or(0));
        bar.set_position(status["progress"]["done"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{}: {}",
            dataset["state_label"].as_str().unwrap_or(""),
            status["progress"]["message"].as_str().unwrap_or("")
        ));
        let state = dataset["state"].as_str().unwrap_or("");
        let running = matches!(state, "created" | "validating" | "activating");
        if !running && status["state"] != "running" && status["state"] != "queued" {
            break dataset;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    print_dataset(&dataset);
    match dataset["state"].as_str() {
        Some("activated" | "activated_with_errors") => Ok(()),
        Some("validated") if review => Ok(()),
        _ => bail!(
            "the dataset ended {}",
            dataset["state_label"].as_str().unwrap_or("unknown")
        ),
    }
}

fn print_dataset(d: &Value) {
    println!(
        "dataset {} \"{}\": {}",
        d["id"],
        d["name"].as_str().unwrap_or(""),
        d["state_label"].as_str().unwrap_or("")
    );
    if let Some(failure) = d["failure"].as_str() {
        println!("  {failure}");
    }
    for f in d["files"].as_array().into_iter().flatten() {
        let rows = match f["rows"].as_i64() {
            Some(1) => "1 row".to_owned(),
            Some(n) => format!("{n} rows"),
            None => "—".to_owned(),
        };
        println!(
            "  file {:<24} {:<28} {rows}",
            f["data_type"].as_str().unwrap_or(""),
            f["file_name"].as_str().unwrap_or(""),
        );
    }
    let (title, counts) = if d["outcome"].as_array().is_some_and(|o| !o.is_empty()) {
        ("outcome", &d["outcome"])
    } else {
        ("plan", &d["plan"])
    };
    for c in counts.as_array().into_iter().flatten() {
        println!(
            "  {title} {:<24} created {}, updated {}, unchanged {}, skipped {}",
            c["data_type"].as_str().unwrap_or(""),
            c["created"],
            c["updated"],
            c["unchanged"],
            c["skipped"]
        );
    }
    if let Some(report) = d["report_url"].as_str() {
        println!(
            "  report: ferry dataset report {} -o FILE ({report})",
            d["id"]
        );
    }
}

/// A progress bar on standard error; hidden when it is not a terminal.
/// A progress bar on standard error, drawn with `template`.
pub(crate) fn bar(length: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A file read in pieces as the upload sends them, moving the bar.
fn file_stream(
    path: &Path,
    bar: ProgressBar,
) -> anyhow::Result<impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(futures_util::stream::unfold(Some(file), move |file| {
        let bar = bar.clone();
        async move {
            let mut file = file?;
            let mut buffer = vec![0; 256 * 1024];
            match file.read(&mut buffer) {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    bar.inc(n as u64);
                    Some((Ok(buffer), Some(file)))
                }
                Err(error) => Some((Err(error), None)),
            }
        }
    }))
}
