//! Configuration: defaults, then a TOML file, then `FERRY_*` environment variables, each later
//! source overriding the earlier.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_storage::{FileStorage, S3Bucket};
use serde::Deserialize;

/// The settings a `ferry` process runs with.
#[derive(Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…`; by default an SQLite file in the data directory.
    pub database_url: String,
    pub listen: SocketAddr,
    /// Where uploaded files, reports and (by default) the database live.
    pub data_dir: PathBuf,
    /// Background workers per `serve` or `worker` process.
    pub workers: usize,
    /// How long a worker's claim on a job holds without a heartbeat.
    pub job_lease: Duration,
    /// How often the scheduler looks for periodic work that is due.
    pub scheduler_tick: Duration,
    /// A `tracing` filter, such as `info` or `ferry=debug`.
    pub log: String,
    /// Log lines as JSON objects (for log collectors) rather than text.
    pub log_json: bool,
    /// The address people reach Ferry at, for links in e-mail; by default the listen address.
    pub public_url: Option<String>,
    /// Mark cookies `Secure`: set it when Ferry is served over HTTPS.
    pub secure_cookies: bool,
    /// Let Partner Center instances point at this machine (the emulators); otherwise their
    /// credentials go only to Microsoft's services.
    pub partner_center_local: bool,
    /// The SMTP server e-mail leaves through (`smtp://…`, `smtps://…`); without one, e-mail
    /// stays in the outbox.
    pub smtp_url: Option<String>,
    /// The sender of Ferry's e-mail.
    pub smtp_from: String,
    /// The key that seals secrets at rest (64 hex digits); by default generated once into
    /// `secret.key` in the data directory.
    pub secret_key: Option<String>,
    /// The bearer token `/metrics` beside the pages asks for; without one it is not served
    /// there.
    pub metrics_token: Option<String>,
    /// An address that serves `/metrics` alone, without a token (for a scraper on a private
    /// network).
    pub metrics_listen: Option<SocketAddr>,
    /// Where uploaded files are kept: the database (the default), a directory or an
    /// S3-compatible bucket.
    pub files: ferry_storage::FileStorage,
}

/// The TOML file; every key may be left out. The same names, upper-cased and prefixed with
/// `FERRY_`, are the environment variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    database_url: Option<String>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    workers: Option<usize>,
    job_lease_seconds: Option<u64>,
    scheduler_tick_ms: Option<u64>,
    log: Option<String>,
    log_format: Option<String>,
    public_url: Option<String>,
    secure_cookies: Option<bool>,
    partner_center_local: Option<bool>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    secret_key: Option<String>,
    metrics_token: Option<String>,
    metrics_listen: Option<String>,
    files: Option<String>,
    files_directory: Option<PathBuf>,
    s3_bucket: Option<String>,
    s3_region: Option<String>,
    s3_endpoint: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("invalid {name}: '{value}' ({why})")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

impl Config {
    /// Reads the file named by `--config` or `FERRY_CONFIG` (or `./ferry.toml` when it exists),
    /// then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env("FERRY_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("ferry.toml")).filter(|p| p.exists()));
        let text = match &file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Self::from_sources(text.as_deref().zip(file.as_deref()), env)
    }

    fn from_sources(
        file: Option<(&str, &Path)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut s: Settings = match file {
            Some((text, path)) => toml::from_str(text).map_err(|e| ConfigError::Toml {
                path: path.to_path_buf(),
                message: e.message().to_owned(),
            })?,
            None => Settings::default(),
        };
        if let Some(v) = env("FERRY_DATABASE_URL") {
            s.database_url = Some(v);
        }
        if let Some(v) = env("FERRY_LISTEN") {
            s.listen = Some(v);
        }
        if let Some(v) = env("FERRY_DATA_DIR") {
            s.data_dir = Some(v.into());
        }
        if let Some(v) = env("FERRY_WORKERS") {
            s.workers = Some(parse_number("FERRY_WORKERS", &v)?);
        }
        if let Some(v) = env("FERRY_JOB_LEASE_SECONDS") {
            s.job_lease_seconds = Some(parse_number("FERRY_JOB_LEASE_SECONDS", &v)?);
        }
        if let Some(v) = env("FERRY_SCHEDULER_TICK_MS") {
            s.scheduler_tick_ms = Some(parse_number("FERRY_SCHEDULER_TICK_MS", &v)?);
        }
        if let Some(v) = env("FERRY_LOG") {
            s.log = Some(v);
        }
        if let Some(v) = env("FERRY_LOG_FORMAT") {
            s.log_format = Some(v);
        }
        if let Some(v) = env("FERRY_PUBLIC_URL") {
            s.public_url = Some(v);
        }
        if let Some(v) = env("FERRY_SMTP_URL") {
            s.smtp_url = Some(v);
        }
        if let Some(v) = env("FERRY_SMTP_FROM") {
            s.smtp_from = Some(v);
        }
        if let Some(v) = env("FERRY_SECRET_KEY") {
            s.secret_key = Some(v);
        }
        if let Some(v) = env("FERRY_METRICS_TOKEN") {
            s.metrics_token = Some(v);
        }
        if let Some(v) = env("FERRY_METRICS_LISTEN") {
            s.metrics_listen = Some(v);
        }
        if let Some(v) = env("FERRY_FILES") {
            s.files = Some(v);
        }
        if let Some(v) = env("FERRY_FILES_DIRECTORY") {
            s.files_directory = Some(v.into());
        }
        if let Some(v) = env("FERRY_S3_BUCKET") {
            s.s3_bucket = Some(v);
        }
        if let Some(v) = env("FERRY_S3_REGION") {
            s.s3_region = Some(v);
        }
        if let Some(v) = env("FERRY_S3_ENDPOINT") {
            s.s3_endpoint = Some(v);
        }
        if let Some(v) = env("FERRY_S3_ACCESS_KEY_ID") {
            s.s3_access_key_id = Some(v);
        }
        if let Some(v) = env("FERRY_S3_SECRET_ACCESS_KEY") {
            s.s3_secret_access_key = Some(v);
        }
        if let Some(v) = env("FERRY_SECURE_COOKIES") {
            s.secure_cookies = Some(parse_flag("FERRY_SECURE_COOKIES", v)?);
        }
        if let Some(v) = env("FERRY_PARTNER_CENTER_LOCAL") {
            s.partner_center_local = Some(parse_flag("FERRY_PARTNER_CENTER_LOCAL", v)?);
        }

        let data_dir = s.data_dir.unwrap_or_else(|| PathBuf::from("ferry-data"));
        let database_url = s
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("ferry.db").display()));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(ConfigError::Invalid {
                name: "database URL",
                value: redact_url(&database_url),
                why: "it must start with sqlite:// or postgres://",
            });
        }
        let listen = s.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen = listen.parse().map_err(|_| ConfigError::Invalid {
            name: "listen address",
            value: listen.to_owned(),
            why: "expected ADDRESS:PORT, such as 127.0.0.1:8080",
        })?;
        let log_json = match s.log_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "log format",
                    value: other.to_owned(),
                    why: "expected text or json",
                });
            }
        };
        let metrics_listen = match s.metrics_listen.as_deref() {
            Some(address) => Some(address.parse().map_err(|_| ConfigError::Invalid {
                name: "metrics address",
                value: address.to_owned(),
                why: "expected ADDRESS:PORT, such as 127.0.0.1:9090",
            })?),
            None => None,
        };
        if s.metrics_token
            .as_ref()
            .is_some_and(|t| t.trim().len() < 16)
        {
            return Err(ConfigError::Invalid {
                name: "metrics token",
                value: "(hidden)".into(),
                why: "it must be at least 16 characters",
            });
        }
        let files = match s.files.as_deref() {
            None | Some("database") => FileStorage::Database,
            Some("directory") => {
                FileStorage::Directory(s.files_directory.unwrap_or_else(|| data_dir.join("files")))
            }
            Some("s3") => FileStorage::S3(S3Bucket {
                bucket: s.s3_bucket.filter(|b| !b.trim().is_empty()).ok_or(
                    ConfigError::Invalid {
                        name: "S3 bucket",
                        value: String::new(),
                        why: "files = \"s3\" needs s3_bucket (FERRY_S3_BUCKET)",
                    },
                )?,
                region: s.s3_region,
                endpoint: s.s3_endpoint,
                access_key_id: s.s3_access_key_id,
                secret_access_key: s.s3_secret_access_key,
            }),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "files",
                    value: other.to_owned(),
                    why: "expected database, directory or s3",
                });
            }
        };
        let lease_seconds = s.job_lease_seconds.unwrap_or(30);
        if lease_seconds == 0 {
            return Err(ConfigError::Invalid {
                name: "job lease",
                value: "0".into(),
                why: "it must be at least one second",
            });
        }
        let tick_ms = s.scheduler_tick_ms.unwrap_or(1_000);
        if tick_ms == 0 {
            return Err(ConfigError::Invalid {
                name: "scheduler tick",
                value: "0".into(),
                why: "it must be at least one millisecond",
            });
        }
        Ok(Config {
            database_url,
            listen,
            data_dir,
            workers: s.workers.unwrap_or(2),
            job_lease: Duration::from_secs(lease_seconds),
            scheduler_tick: Duration::from_millis(tick_ms),
            log: s.log.unwrap_or_else(|| "info".into()),
            log_json,
            public_url: s.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            secure_cookies: s.secure_cookies.unwrap_or(false),
            partner_center_local: s.partner_center_local.unwrap_or(false),
            smtp_url: s.smtp_url,
            smtp_from: s
                .smtp_from
                .unwrap_or_else(|| "Ferry <ferry@localhost>".into()),
            secret_key: s.secret_key,
            metrics_token: s.metrics_token,
            metrics_listen,
            files,
        })
    }

    /// The address links in e-mails start with: the configured public URL, else the listen
    /// address.
    pub fn public_url_or_listen(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The sealer of secrets at rest: the configured key, or the data directory's key file.
    pub fn sealer(&self) -> Result<ferry_storage::seal::Sealer, ferry_storage::seal::SealError> {
        match &self.secret_key {
            Some(hex) => ferry_storage::seal::Sealer::from_hex(hex),
            None => ferry_storage::seal::Sealer::from_file(&self.data_dir.join("secret.key")),
        }
    }

    /// The database URL as it may be shown: with any password masked.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.database_url_redacted())
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("workers", &self.workers)
            .field("job_lease", &self.job_lease)
            .field("scheduler_tick", &self.scheduler_tick)
            .field("log", &self.log)
            .field("public_url", &self.public_url)
            .field("secure_cookies", &self.secure_cookies)
            .field("partner_center_local", &self.partner_center_local)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_from", &self.smtp_from)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("files", &self.files)
            .finish()
    }
}

fn parse_number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        value: value.to_owned(),
        why: "expected a whole number",
    })
}

fn parse_flag(name: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            value,
            why: "expected true or false",
        }),
    }
}

/// Masks the password of `scheme://user:password@host/…`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            let host_and_path = &rest[userinfo.len()..];
            format!("{scheme}://{user}:***{host_and_path}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_sources(file.map(|t| (t, Path::new("ferry.toml"))), |k| {
            env.get(k).cloned()
        })
    }

    #[test]
    fn defaults_keep_everything_in_the_data_dir() {
        let config = load(None, &[]).expect("config");
        assert_eq!(config.database_url, "sqlite://ferry-data/ferry.db");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.job_lease, Duration::from_secs(30));
    }

    #[test]
    fn environment_overrides_file() {
        let file = "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/ferry\"\nworkers = 4\n";
        let config = load(Some(file), &[("FERRY_LISTEN", "127.0.0.1:9001")]).expect("config");
        assert_eq!(config.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(config.database_url, "sqlite:///srv/ferry/ferry.db");
        assert_eq!(config.workers, 4);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let error = load(None, &[("FERRY_LISTEN", "localhost")]).expect_err("bad listen");
        assert!(error.to_string().contains("listen address"), "{error}");
        let error = load(Some("databse_url = 'x'"), &[]).expect_err("typo");
        assert!(error.to_string().contains("databse_url"), "{error}");
        let error =
            load(None, &[("FERRY_DATABASE_URL", "mysql://u:secret@h/db")]).expect_err("mysql");
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn files_go_where_the_setting_says() {
        let config = load(None, &[]).expect("config");
        assert!(matches!(config.files, FileStorage::Database));
        let config = load(Some("files = 'directory'"), &[]).expect("config");
        assert!(
            matches!(&config.files, FileStorage::Directory(d) if d == Path::new("ferry-data/files"))
        );
        let file = "files = 's3'\ns3_bucket = 'uploads'\ns3_endpoint = 'http://127.0.0.1:9000'\n";
        let config = load(Some(file), &[("FERRY_S3_SECRET_ACCESS_KEY", "hunter2")]).expect("s3");
        let FileStorage::S3(s3) = &config.files else {
            panic!("{config:?}")
        };
        assert_eq!(s3.bucket, "uploads");
        assert_eq!(s3.secret_access_key.as_deref(), Some("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
        let error = load(Some("files = 's3'"), &[]).expect_err("no bucket");
        assert!(error.to_string().contains("s3_bucket"), "{error}");
        let error = load(None, &[("FERRY_FILES", "ftp")]).expect_err("ftp");
        assert!(
            error.to_string().contains("database, directory or s3"),
            "{error}"
        );
    }

    #[test]
    fn passwords_never_show() {
        let config = load(
            None,
            &[(
                "FERRY_DATABASE_URL",
                "postgres://ferry:hunter2@db:5432/ferry",
            )],
        )
        .expect("config");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://ferry:***@db:5432/ferry"),
            "{shown}"
        );
        assert_eq!(
            redact_url("postgres://ferry@db/ferry"),
            "postgres://ferry@db/ferry"
        );
    }
}
