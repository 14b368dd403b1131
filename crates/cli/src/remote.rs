//! Data commands: clients of a running Ferry's API (`--server`, `--token`, or `FERRY_SERVER`,
//! `FERRY_TOKEN`).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct Api {
    /// The address of a running Ferry.
    #[arg(
        long,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// An API token (`ferry admin create-token`).
    #[arg(long, env = "FERRY_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.request(method, path)?;
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = self.send(request).await?;
        Ok(response.json().await.unwrap_or(Value::Null))
    }

    /// A request to the API with the token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let token = self
            .token
            .as_deref()
            .context("no API token: pass --token or set FERRY_TOKEN")?;
        let url = format!("{}/api/v1{path}", self.server.trim_end_matches('/'));
        Ok(reqwest::Client::new()
            .request(method, &url)
            .bearer_auth(token))
    }

    /// Sends a request; an answer that is not a success becomes its error message.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach Ferry at {}", self.server))?;
        let status = response.status();
        if !status.is_success() {
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let message = answer["error"]["message"].as_str().unwrap_or("no message");
            bail!("{message} ({})", status.as_u16());
        }
        Ok(response)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, None).await
    }
}

/// Follows a job with a progress bar until it ends; answers its last state.
pub async fn follow(api: &Api, job: i64) -> anyhow::Result<Value> {
    let bar = crate::datasets::bar(0, "{msg:60} [{bar:30}] {pos}/{len}");
    let status = loop {
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
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    Ok(status)
}

/// The id of the instance called `name` among those the marketplace may use.
pub async fn instance_named(api: &Api, name: &str) -> anyhow::Result<i64> {
    let all = api.get("/instances").await?;
    let found = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == name)
        .with_context(|| format!("no Partner Center instance is named '{name}' here"))?;
    found["id"].as_i64().context("the instance has no id")
}

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Connect a Partner Center account; secrets are read from environment variables.
    Add(AddInstance),
    /// List the Partner Center instances this marketplace may use.
    List,
    /// Check an instance's connection; exits 0 only when it is authenticated.
    Check {
        /// The instance's name.
        name: String,
    },
    /// Turn the checks of datasets' Microsoft records against Partner Center on or off (no
    /// argument: print whether they are on).
    Validation {
        #[arg(value_parser = ["on", "off"])]
        state: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AddInstance {
    #[arg(long)]
    name: String,
    /// direct, indirect or both.
    #[arg(long)]
    model: String,
    #[arg(long)]
    tenant_id: String,
    #[arg(long)]
    app_id: String,
    /// The environment variable that holds the application secret.
    #[arg(long, default_value = "FERRY_PC_SECRET")]
    secret_env: String,
    /// The environment variable that holds a refresh token (App+User).
    #[arg(long)]
    refresh_token_env: Option<String>,
    #[arg(long)]
    mpn_id: Option<String>,
    #[arg(long)]
    api_url: Option<String>,
    #[arg(long)]
    login_url: Option<String>,
}

pub async fn instance(api: &Api, command: InstanceCommand) -> anyhow::Result<()> {
    match command {
        InstanceCommand::Add(a) => {
            let secret = std::env::var(&a.secret_env).with_context(|| {
                format!(
                    "the secret is read from ${}, which is not set",
                    a.secret_env
                )
            })?;
            let refresh_token = match &a.refresh_token_env {
                Some(var) => Some(std::env::var(var).with_context(|| {
                    format!("the refresh token is read from ${var}, which is not set")
                })?),
                None => None,
            };
            let body = json!({
                "name": a.name, "model": a.model, "partner_tenant_id": a.tenant_id,
                "application_id": a.app_id, "secret": secret, "refresh_token": refresh_token,
                "mpn_id": a.mpn_id, "api_base_url": a.api_url, "login_base_url": a.login_url,
            });
            let created = api
                .call(reqwest::Method::POST, "/instances", Some(body))
                .await?;
            println!("{}", created["id"]);
        }
        InstanceCommand::List => {
            let all = api.call(reqwest::Method::GET, "/instances", None).await?;
            println!(
                "{:<6} {:<24} {:<9} {:<16} OWNER",
                "ID", "NAME", "MODEL", "STATE"
            );
            for i in all.as_array().into_iter().flatten() {
                let owner = i["inherited_from"]
                    .as_str()
                    .map_or("this marketplace".to_owned(), |p| {
                        format!("inherited from {p}")
                    });
                println!(
                    "{:<6} {:<24} {:<9} {:<16} {owner}",
                    i["id"],
                    i["name"].as_str().unwrap_or(""),
                    i["model"].as_str().unwrap_or(""),
                    i["auth_state"].as_str().unwrap_or(""),
                );
            }
        }
        InstanceCommand::Check { name } => {
            let id = instance_named(api, &name).await?;
            let checked = api
                .call(
                    reqwest::Method::POST,
                    &format!("/instances/{id}/check"),
                    None,
                )
                .await?;
            let state = checked["auth_state"].as_str().unwrap_or("unknown");
            match checked["auth_reason"].as_str() {
                Some(reason) => println!("{name}: {state}: {reason}"),
                None => println!("{name}: {state}"),
            }
            if state != "authenticated" {
                bail!("the instance '{name}' is not authenticated");
            }
        }
        InstanceCommand::Validation { state } => {
            const SETTINGS: &str = "/partner-center/settings";
            if let Some(state) = state {
                let body = json!({ "microsoft_validation": state == "on" });
                api.call(reqwest::Method::PUT, SETTINGS, Some(body)).await?;
            }
            let settings = api.call(reqwest::Method::GET, SETTINGS, None).await?;
            let on = settings["microsoft_validation"].as_bool().unwrap_or(false);
            println!(
                "Microsoft records of datasets are {}checked against Partner Center",
                if on { "" } else { "not " }
            );
        }
    }
    Ok(())
}
