//! The Partner Center emulator at 100,000 customers: start-up time, customer pages a second,
//! and peak memory of the `ferry emulator partner-center` process.
//!
//!     cargo bench -p ferry-cli --bench emulator
//!
//! `FERRY_BENCH_CUSTOMERS` changes the world's size, `FERRY_BENCH_SECONDS` the length of each
//! load run (default 10).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

#[tokio::main]
async fn main() {
    let customers: u64 = env_number("FERRY_BENCH_CUSTOMERS", 100_000);
    let seconds: u64 = env_number("FERRY_BENCH_SECONDS", 10);
    ferry_integrations::install_tls();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "emulator",
            "partner-center",
            "--listen",
            "127.0.0.1:0",
            "--customers",
        ])
        .arg(customers.to_string())
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the emulator");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = std::collections::HashMap::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some((key, value)) = line.split_once(": ") {
            printed.insert(key.to_owned(), value.to_owned());
        }
        if line.starts_with("base_url:") {
            break;
        }
    }
    let startup = started.elapsed();
    let resident = memory(child.id(), "VmRSS:");
    let base = printed["base_url"].clone();
    println!("\nPartner Center emulator, {customers} customers");
    println!(
        "{:<40} {:>10.2} s   (target < 10 s)",
        "start-up (to base URL printed)",
        startup.as_secs_f64()
    );
    println!(
        "{:<40} {resident:>10.0} MB",
        "memory after start-up (VmRSS)"
    );

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!(
            "{base}/{}/oauth2/token",
            printed["partner_tenant_id"]
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", printed["client_id"].as_str()),
            ("client_secret", printed["client_secret"].as_str()),
            ("resource", "https://api.partnercenter.microsoft.com"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();

    for size in [100, 500] {
        let rate = load(&http, &base, &token, size, Duration::from_secs(seconds)).await;
        println!(
            "{:<40} {rate:>10.0} /s  (target >= 2,000)",
            format!("customer pages of {size}, 8 clients")
        );
    }
    let peak_kib = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
        })
        .expect("peak memory from /proc");
    println!(
        "{:<40} {:>10.0} MB  (target < 500 MB)",
        "peak memory (VmHWM)",
        peak_kib as f64 / 1024.0
    );
    child.kill().expect("stop the emulator");
    child.wait().expect("reap");
}

/// Eight clients walk the customer list page by page, from the start again at the end, for
/// `length`; returns the pages served per second.
async fn load(http: &reqwest::Client, base: &str, token: &str, size: u32, length: Duration) -> f64 {
    let served = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + length;
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, base, token, served) = (
            http.clone(),
            base.to_owned(),
            token.to_owned(),
            served.clone(),
        );
        clients.spawn(async move {
            let mut continuation: Option<String> = None;
            while Instant::now() < deadline {
                let request = match &continuation {
                    None => http.get(format!("{base}/v1/customers?size={size}")),
                    Some(token) => http
                        .get(format!("{base}/v1/customers?seekOperation=Next"))
                        .header("MS-ContinuationToken", token),
                };
                let body = request
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("page")
                    .bytes()
                    .await
                    .expect("body");
                served.fetch_add(1, Ordering::Relaxed);
                // The load must cost less than what it measures: find the token, parse nothing.
                continuation = continuation_token(&body);
            }
        });
    }
    while clients.join_next().await.is_some() {}
    served.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// A memory figure of a process from `/proc`, in MB.
fn memory(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The `continuationToken` of a page, found by its key rather than by parsing the page.
fn continuation_token(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"continuationToken\":\"";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let end = body[start..].iter().position(|b| *b == b'"')?;
    String::from_utf8(body[start..start + end].to_vec()).ok()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
