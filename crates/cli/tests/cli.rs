//! The `ferry` binary, driven as operators and scripts drive it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_domain::{JobState, MarketplaceKind};
use ferry_jobs::{BackgroundJob, Probe};
use ferry_storage::{NewJob, Store};
use serde_json::json;

/// A `ferry` command with a clean environment pointing at `database_url`.
fn ferry(dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .current_dir(dir)
        .env_remove("FERRY_CONFIG")
        .env_remove("RUST_LOG")
        .env("FERRY_DATA_DIR", dir.join("data"))
        .env("FERRY_DATABASE_URL", database_url)
        .env("FERRY_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("ferry runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "ferry failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// Asserts a failure with exactly one line on standard error that says `why`.
fn fails_with(output: &Output, why: &str) {
    assert!(!output.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(why), "'{why}' not in: {stderr}");
}

/// `ferry demo` in `dir` with its defaults (an SQLite database in the data directory), read up
/// to the line that holds `last`.
fn demo(dir: &Path, last: &str) -> Running {
    let mut command = ferry(dir, "");
    command.env_remove("FERRY_DATABASE_URL").arg("demo");
    Running::start(command, last)
}

/// The database of the demo in `dir`, and its marketplace.
async fn demo_store(dir: &Path) -> (std::sync::Arc<dyn Store>, ferry_storage::Marketplace) {
    let url = format!("sqlite://{}", dir.join("data/ferry.db").display());
    let store = ferry_storage::connect(&url).await.expect("connect");
    let marketplace = store
        .marketplace_by_slug("demo")
        .await
        .expect("get")
        .expect("demo");
    (store, marketplace)
}

/// `ferry serve` on `database_url` with `env`, its logs going to `server.log` in `dir`.
fn serve_logging_to_a_file(
    dir: &Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Running, std::path::PathBuf) {
    let log = dir.join("server.log");
    let mut command = ferry(dir, database_url);
    command.arg("serve").envs(env.iter().copied());
    let log_file = Stdio::from(std::fs::File::create(&log).expect("log file"));
    (Running::launch(command, "listening on", log_file), log)
}

/// A Marketplace Manager's API token for the demo in `dir`.
fn demo_token(dir: &Path) -> String {
    let mut admin = ferry(dir, "");
    admin.env_remove("FERRY_DATABASE_URL").args([
        "admin",
        "create-token",
        "--marketplace",
        "demo",
        "--role",
        "marketplace-manager",
    ]);
    stdout(&run(&mut admin)).trim().to_owned()
}

#[tokio::test]
async fn admin_commands_print_what_they_create() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    let admin = |args: &[&str]| {
        let mut command = ferry(dir.path(), &url);
        command
            .arg("admin")
            .args(args)
            .env("FERRY_PASSWORD", "a long enough password");
        run(&mut command)
    };

    let created = admin(&["create-marketplace", "--name", "Contoso Cloud"]);
    assert_eq!(stdout(&created), "contoso-cloud\n");
    let again = admin(&["create-marketplace", "--name", "Contoso Cloud"]);
    assert_eq!(stdout(&again), "contoso-cloud-2\n");
    let child = admin(&[
        "create-marketplace",
        "--name",
        "Contoso DE",
        "--parent",
        "contoso-cloud",
        "--kind",
        "country",
    ]);
    assert_eq!(stdout(&child), "contoso-de\n");
    fails_with(
        &admin(&[
            "create-marketplace",
            "--name",
            "X",
            "--parent",
            "contoso-de",
            "--kind",
            "country",
        ]),
        "a country tenant's parent must be a distributor",
    );
    fails_with(
        &admin(&[
            "create-marketplace",
            "--name",
            "X",
            "--parent",
            "nowhere",
            "--kind",
            "simple",
        ]),
        "no marketplace has the slug 'nowhere' in the database sqlite://",
    );

    let user = [
        "create-user",
        "--marketplace",
        "contoso-cloud",
        "--email",
        "Mia@Contoso.example",
        "--role",
        "marketplace-manager",
    ];
    stdout(&admin(&user));
    fails_with(
        &admin(&user),
        "a user with the email mia@contoso.example already exists",
    );
    fails_with(
        &admin(&[
            "create-user",
            "--marketplace",
            "contoso-cloud",
            "--email",
            "not-an-email",
            "--role",
            "sales-support",
        ]),
        "invalid email address",
    );
    stdout(&admin(&[
        "create-user",
        "--email",
        "root@ferry.example",
        "--role",
        "platform-admin",
    ]));
    fails_with(
        &admin(&[
            "create-user",
            "--marketplace",
            "contoso-cloud",
            "--email",
            "admin@contoso.example",
            "--role",
            "platform-admin",
        ]),
        "a platform admin belongs to no marketplace",
    );
    let wrong_role = admin(&[
        "create-token",
        "--marketplace",
        "contoso-cloud",
        "--role",
        "manager",
    ]);
    assert!(!wrong_role.status.success());
    let said = String::from_utf8_lossy(&wrong_role.stderr);
    assert!(
        said.contains(
            "possible values: platform-admin, marketplace-manager, sales-support, \
             customer-support, reseller"
        ),
        "the valid roles: {said}"
    );

    let token = stdout(&admin(&[
        "create-token",
        "--marketplace",
        "contoso-cloud",
        "--role",
        "sales-support",
    ]));
    let token = token.strip_suffix('\n').expect("one line");
    assert!(
        token.starts_with("ferry_") && !token.contains(char::is_whitespace),
        "{token}"
    );
    fails_with(
        &admin(&[
            "create-token",
            "--marketplace",
            "contoso-cloud",
            "--role",
            "platform-admin",
        ]),
        "choose a marketplace role",
    );

    let store = ferry_storage::connect(&url).await.expect("connect");
    let marketplaces = store.marketplaces().await.expect("list");
    let kinds: Vec<_> = marketplaces
        .iter()
        .map(|m| (m.slug.as_str(), m.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("contoso-cloud", MarketplaceKind::Distributor),
            ("contoso-cloud-2", MarketplaceKind::Distributor),
            ("contoso-de", MarketplaceKind::CountryTenant),
        ]
    );
    assert_eq!(marketplaces[2].parent_id, Some(marketplaces[0].id));
}

#[test]
fn migrate_twice_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    let first = stdout(&run(ferry(dir.path(), &url).arg("migrate")));
    assert!(first.starts_with("Applied "), "{first}");
    let second = stdout(&run(ferry(dir.path(), &url).arg("migrate")));
    assert_eq!(second, "The database is up to date.\n");
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_for_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut migrate = ferry(dir.path(), "");
    migrate.env_remove("FERRY_DATABASE_URL").arg("migrate");
    stdout(&run(&mut migrate));
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in ["ferry.db", "ferry.db-wal", "ferry.db-shm"] {
        let path = data.join(file);
        if file == "ferry.db" || path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(ferry(dir.path(), "mysql://ferry:secret@db/ferry").arg("migrate"));
    fails_with(&output, "must start with sqlite:// or postgres://");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("secret"));
    let output = run(ferry(dir.path(), "sqlite://x.db")
        .env("FERRY_LISTEN", "nowhere")
        .arg("serve"));
    fails_with(&output, "invalid listen address: 'nowhere'");
}

/// A running `ferry serve` or `ferry demo`, stopped when dropped.
struct Running {
    child: Child,
    url: String,
    printed: String,
}

impl Running {
    /// Starts the command on a free port and reads what it prints up to the line that holds
    /// `last`, taking the URL it announces on the way.
    fn start(command: Command, last: &str) -> Running {
        Running::launch(command, last, Stdio::piped())
    }

    /// Like `start`, with standard error (the logs) going to `stderr`.
    fn launch(mut command: Command, last: &str, stderr: Stdio) -> Running {
        let mut child = command
            .env("FERRY_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut printed = String::new();
        let mut url = None;
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).expect("read") == 0 {
                let mut err = String::new();
                child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("ferry exited before printing its URL: {printed}{err}");
            }
            printed.push_str(&line);
            if let Some(at) = line.find("http://") {
                let address = line[at..].split([' ', ',']).next().unwrap_or_default();
                url = Some(address.trim().to_owned());
            }
            if line.contains(last) {
                break;
            }
        }
        let url = url.expect("an announced URL");
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Running {
            child,
            url,
            printed,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "", "")
    }

    /// What it printed after `label` on one line: the demo's password, its example folder.
    fn printed_after(&self, label: &str) -> String {
        self.printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label} in {}", self.printed))
    }

    /// One HTTP/1.1 request; `extra` holds more header lines, each ending in CRLF.
    fn request(&self, method: &str, path: &str, extra: &str, body: &str) -> (u16, String) {
        let address = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_answers_health_and_readiness() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    let mut command = ferry(dir.path(), &url);
    command.arg("serve");
    let server = Running::start(command, "listening on");
    assert!(
        server
            .printed
            .starts_with("Ferry is listening on http://127.0.0.1:")
    );
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(
        server.get("/").0,
        303,
        "anonymous visitors are sent to sign in"
    );
    let (status, body) = server.get("/sign-in");
    assert_eq!((status, body.contains("Sign in")), (200, true), "{body}");
    assert_eq!(server.get("/no-such-page").0, 404);
    let (status, body) = server.get("/readyz");
    assert_eq!((status, body.contains("ready")), (200, true), "{body}");
}

/// With `log_format = json`, every log line is a JSON object, and a request's lines carry its
/// id — the one its answer gives back, and a proxy's when it sent one.
#[test]
fn json_logs_follow_a_request_by_its_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    let (server, log) = serve_logging_to_a_file(
        dir.path(),
        &url,
        &[
            ("FERRY_LOG_FORMAT", "json"),
            ("FERRY_LOG", "ferry_server=debug"),
        ],
    );
    let (status, body) = server.request(
        "GET",
        "/api/v1/companies",
        "X-Request-Id: trace-me-0042\r\n",
        "",
    );
    assert_eq!(status, 401);
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["error"]["request_id"], "trace-me-0042");
    let started = Instant::now();
    let line = loop {
        let logged = std::fs::read_to_string(&log).expect("log");
        let lines: Vec<serde_json::Value> = logged
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        if let Some(line) = lines
            .into_iter()
            .find(|l| l["span"]["id"] == "trace-me-0042")
        {
            break line;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "the request's line: {logged}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(line["fields"]["status"], 401);
    assert_eq!(line["span"]["path"], "/api/v1/companies");
    fails_with(
        &run(ferry(dir.path(), &url)
            .env("FERRY_LOG_FORMAT", "yaml")
            .arg("migrate")),
        "invalid log format: 'yaml' (expected text or json)",
    );
}

#[tokio::test]
async fn demo_starts_with_data_and_a_login() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo(dir.path(), "Stop it with Ctrl-C");
    assert!(
        demo.printed
            .contains("ferry admin create-token --marketplace demo --role marketplace-manager"),
        "a command that makes an API token: {}",
        demo.printed
    );
    assert_eq!(demo.get("/healthz").0, 200);
    assert_eq!(demo.get("/readyz").0, 200);
    let password = demo.printed_after("Password:");
    let (store, marketplace) = demo_store(dir.path()).await;
    assert!(store.count_companies(marketplace.id).await.expect("count") >= 10);
    let manager = ferry_domain::Email::parse("manager@demo.example").expect("email");
    assert!(
        store
            .user_by_email(marketplace.id, &manager)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        password.len() >= ferry_accounts::credentials::MIN_PASSWORD_LEN,
        "{password}"
    );

    // Every migration template, as the page gives it, validates on the demo marketplace; the
    // Microsoft types need a Partner Center instance, which the demo does not connect.
    let token = demo_token(dir.path());
    let mut upload = ferry(dir.path(), "");
    upload
        .env_remove("FERRY_DATABASE_URL")
        .env("FERRY_SERVER", &demo.url)
        .env("FERRY_TOKEN", &token)
        .args(["dataset", "upload", "--name", "Templates", "--review"]);
    let microsoft = [
        ferry_datasets::DataType::MicrosoftCustomers,
        ferry_datasets::DataType::MicrosoftSubscriptions,
    ];
    for data_type in ferry_datasets::DataType::ALL
        .into_iter()
        .filter(|t| !microsoft.contains(t))
    {
        let path = dir.path().join(format!("{}.csv", data_type.part()));
        std::fs::write(&path, ferry_datasets::template(data_type)).expect("write template");
        upload.arg(format!("--{}", data_type.part().replace('_', "-")));
        upload.arg(&path);
    }
    let printed = stdout(&run(&mut upload));
    let mut report = ferry(dir.path(), "");
    report
        .env_remove("FERRY_DATABASE_URL")
        .env("FERRY_SERVER", &demo.url)
        .env("FERRY_TOKEN", &token)
        .args(["dataset", "report", "1", "-o", "-"]);
    let findings = stdout(&run(&mut report));
    assert!(
        printed.contains(": Validated")
            && printed
                .lines()
                .filter(|l| l.contains("plan "))
                .all(|l| l.ends_with("skipped 0")),
        "the templates validate without an error: {printed}\n{findings}"
    );
}

/// A newcomer's first visit, in headless Chromium against `ferry demo` as the README starts it:
/// sign in with the printed password, read the Overview, upload the printed example dataset with
/// review, read its plan, activate it, read the report, find the changed company by a word in
/// the middle of its name and its History, and fold the navigation in a 420 px window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_takes_the_demo_from_sign_in_to_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo(dir.path(), "Example:");
    let password = demo.printed_after("Password:");
    let example = demo.printed_after("Example:");
    let example = Path::new(example.split(" (").next().expect("a folder"));
    let shots = ferry_webdriver::screenshot_dir(env!("CARGO_MANIFEST_DIR"));
    let browser = ferry_webdriver::Browser::start().await;

    browser.goto(&demo.url).await;
    browser.type_into("#email", "manager@demo.example").await;
    browser.type_into("#password", &password).await;
    browser.click("button[type=submit]").await;
    assert!(browser.text("h1").await.contains("Demo Marketplace"));
    assert!(browser.source().await.contains("Where to start"));
    browser.shot(&shots, "newcomer-1-overview").await;

    browser.click("nav a[href='/m/demo/datasets']").await;
    browser.type_into("#name", "Example dataset").await;
    browser
        .execute("document.querySelector('input[name=review]').checked = true")
        .await;
    for part in ["companies", "users", "memberships", "company_entitlements"] {
        let file = example.join(format!("{part}.csv"));
        assert!(file.exists(), "the demo wrote {}", file.display());
        browser
            .type_into(&format!("#file-{part}"), &file.display().to_string())
            .await;
    }
    browser.click("form.card button[type=submit]").await;
    browser
        .wait_for("document.querySelector('#dataset-state')?.textContent === 'Validated'")
        .await;
    browser.shot(&shots, "newcomer-2-plan").await;
    browser
        .click_and_confirm(
            ".actions button[type=submit]",
            "It will create 4 records, update 1 and skip 4 rows with errors.",
        )
        .await;
    browser
        .wait_for(
            "document.querySelector('#dataset-state')?.textContent === 'Activated with Errors'",
        )
        .await;
    browser.shot(&shots, "newcomer-3-activated").await;
    let report = browser
        .execute("return fetch(document.querySelector('#report-link').href).then(r => r.text())")
        .await;
    let report = report.as_str().unwrap_or_default();
    for line in [
        "companies.csv,2,DEMO-C007,UPDATED,",
        "companies.csv,3,EX-C001,CREATED,",
        "companies.csv,4,EX-C002,ERROR,INVALID_COUNTRY,COUNTRY,",
        "users.csv,3,EX-U002,ERROR,INVALID_EMAIL_ADDRESS,EMAIL_ADDRESS,",
        "EX-U002 was rejected, users.csv line 3",
        "company_entitlements.csv,3,EX-S002,ERROR,EDITION_PRICING_INVALID,",
    ] {
        assert!(report.contains(line), "{line:?} in the report:\n{report}");
    }

    browser.click("nav a[href='/m/demo/companies']").await;
    browser.type_into("#q", "peak").await;
    browser.click("form.filters button").await;
    browser.shot(&shots, "newcomer-4-search").await;
    browser.click("table a").await;
    assert!(browser.text("h1").await.starts_with("Granite Peak Legal"));
    let history = browser.text(".changes").await;
    assert!(
        history.contains("+1 303 555 0147") && history.contains("1600 Glenarm Place"),
        "the dataset's change in History: {history}"
    );
    browser
        .execute("[...document.querySelectorAll('h2')].find(h => h.textContent === 'History').scrollIntoView()")
        .await;
    browser.shot(&shots, "newcomer-5-history").await;
    let page = browser.source().await;
    assert!(
        page.contains(">Dataset Example dataset</a>"),
        "History names and links the dataset: {page}"
    );

    browser.window_width(420).await;
    browser.goto(&format!("{}/m/demo", demo.url)).await;
    browser
        .execute("document.querySelector('label.menu-button').click()")
        .await;
    browser.shot(&shots, "newcomer-6-narrow-menu").await;
    println!("screenshots of the newcomer's path: {}", shots.display());
}

/// The Import Customers tool on the demo, in headless Chromium: the manager runs Get Hierarchy
/// against the demo's emulated Partner Center, follows it, filters the audited list, opens a
/// reseller's end customers, and finds a Synced tenant, an Out of sync one with its
/// differences, and a Not imported one with its possible match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_gets_the_hierarchy_of_the_demo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo(dir.path(), "Partner Center:");
    let password = demo.printed_after("Password:");
    let (store, demo_marketplace) = demo_store(dir.path()).await;
    let lookalike = store
        .company_by_external_id(demo_marketplace.id, "DEMO-PC3")
        .await
        .expect("get")
        .expect("the demo's look-alike company");
    let tenant_name = lookalike.name.trim_end_matches(" Ltd").to_owned();
    let shots = ferry_webdriver::screenshot_dir(env!("CARGO_MANIFEST_DIR"));
    let browser = ferry_webdriver::Browser::start().await;

    browser.goto(&demo.url).await;
    browser.type_into("#email", "manager@demo.example").await;
    browser.type_into("#password", &password).await;
    browser.click("button[type=submit]").await;
    assert!(
        browser.source().await.contains("Get Hierarchy"),
        "the first-run path says so"
    );
    browser
        .click("nav a[href='/m/demo/import-customers']")
        .await;
    browser.click("form.card button[type=submit]").await;
    browser.shot(&shots, "hierarchy-1-progress").await;
    // The demo's Company Sync may be reading Partner Center already: the page follows that.
    browser
        .wait_for(
            "!!document.querySelector('#tenant-list') && !document.querySelector('[data-refresh]')",
        )
        .await;
    assert!(browser.text("#snapshot").await.contains("300 tenants"));
    assert_ne!(browser.text("#last-update").await, "never");
    browser.shot(&shots, "hierarchy-2-tenants").await;

    let filter = |status: &'static str| {
        let browser = &browser;
        async move {
            browser
                .execute(&format!(
                    "document.querySelector('#status').value = '{status}'; \
                     document.querySelector('#q').value = ''; \
                     document.querySelector('#reseller').value = ''"
                ))
                .await;
            browser.click("form.filters button").await;
            browser.text("#tenant-list tbody").await
        }
    };
    let synced = filter("synced").await;
    assert_eq!(synced.lines().count(), 1, "{synced}");
    assert!(synced.contains("Synced"), "{synced}");
    let drifted = filter("out-of-sync").await;
    assert!(
        drifted.contains("Out of sync")
            && drifted.contains("Not in the marketplace:")
            && drifted.contains("Not in Partner Center: 0d15ea5e-0000-4000-8000-00000000dead"),
        "{drifted}"
    );
    browser.shot(&shots, "hierarchy-3-out-of-sync").await;
    browser
        .execute("document.querySelector('#status').value = 'not-imported'")
        .await;
    browser.type_into("#q", &tenant_name).await;
    browser.click("form.filters button").await;
    let alike = browser.text("#tenant-list tbody").await;
    assert!(
        alike.contains("Not imported")
            && alike.contains("Possible match:")
            && alike.contains(&lookalike.name),
        "{alike}"
    );
    browser.shot(&shots, "hierarchy-4-possible-match").await;

    browser.click("#resellers a").await;
    let theirs = browser.text("#tenant-list tbody").await;
    assert!(theirs.contains("End customer of"), "{theirs}");
    browser.shot(&shots, "hierarchy-5-reseller").await;

    // The storefront is the tenant reseller of one reseller: its end customers say so.
    browser
        .execute(
            "document.querySelector('#status').value = ''; \
             document.querySelector('#q').value = ''; \
             document.querySelector('#reseller').value = 'tenant-resellers'",
        )
        .await;
    browser.click("form.filters button").await;
    let held = browser.text("#tenant-list tbody").await;
    assert!(
        held.contains("Tenant reseller: Northwind Storefront"),
        "{held}"
    );
    browser.shot(&shots, "hierarchy-6-tenant-reseller").await;

    // A page of tenants not imported, ticked and imported; Import Results fills while it runs.
    browser
        .execute(
            "document.querySelector('#status').value = 'not-imported'; \
             document.querySelector('#reseller').value = ''",
        )
        .await;
    browser.click("form.filters button").await;
    let ticked = browser
        .execute(
            "const boxes = document.querySelectorAll('input[name=tenant]'); \
             boxes.forEach(b => b.checked = true); return boxes.length",
        )
        .await;
    assert!(ticked.as_u64().is_some_and(|n| n >= 20), "{ticked}");
    browser.click("button[form=import-selected]").await;
    browser.shot(&shots, "import-1-running").await;
    browser
        .wait_for(
            "!document.querySelector('[data-refresh]') && !!document.querySelector('#results')",
        )
        .await;
    let unmapped = browser.text("#unmapped").await;
    assert!(
        unmapped.contains("195416C1-3447-423A-B37B-EE59A99A19C4"),
        "the offer left unmapped on purpose: {unmapped}"
    );
    browser.shot(&shots, "import-2-results").await;

    // Mapped in place to the catalog's Exchange Online (Plan 1), then retried.
    browser
        .execute(
            "const select = document.querySelector('#unmapped select'); \
             const option = [...select.options].find(o => o.text.endsWith('Exchange Online (Plan 1)')); \
             select.value = option.value",
        )
        .await;
    browser.click("#unmapped form button").await;
    assert!(browser.source().await.contains("The offer is mapped."));
    browser.click("form[action$='/retry'] button").await;
    browser
        .wait_for(
            "!document.querySelector('[data-refresh]') && !!document.querySelector('#results')",
        )
        .await;
    assert!(
        !browser
            .source()
            .await
            .contains("195416C1-3447-423A-B37B-EE59A99A19C4\""),
        "mapped and imported"
    );
    browser.shot(&shots, "import-3-retried").await;
    let csv = browser
        .execute(
            "const x = new XMLHttpRequest(); \
             x.open('GET', document.querySelector('a[download]').href, false); x.send(); \
             return x.responseText",
        )
        .await;
    let csv = csv.as_str().unwrap_or_default();
    assert!(csv.starts_with("tab,tenant_id,tenant_name"), "{csv}");
    assert!(csv.contains(",imported,"), "{csv}");

    // Retrieved again, the imported tenants are Synced.
    browser
        .click("nav a[href='/m/demo/import-customers']")
        .await;
    browser.click("form.card button[type=submit]").await;
    browser
        .wait_for(
            "!!document.querySelector('#tenant-list') && !document.querySelector('[data-refresh]')",
        )
        .await;
    let synced = filter("synced").await;
    assert!(synced.lines().count() >= 20, "{synced}");
    browser.shot(&shots, "import-4-synced").await;
    println!("screenshots of Get Hierarchy: {}", shots.display());
}

/// Pending Companies on the demo, in headless Chromium: a Sales Support Rep is refused the
/// queue; the manager lets Sales Support manage pending companies; the rep then links a tenant
/// to the company its name suggests, sees one only a domain reveals, creates a company for
/// another (its admin invited: the e-mail is in the Outbox) and dismisses a third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_rep_works_the_pending_companies_of_the_demo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo(dir.path(), "Partner Center:");
    let password = demo.printed_after("Password:");
    let mut rep = ferry(dir.path(), "");
    rep.env_remove("FERRY_DATABASE_URL")
        .env("FERRY_PASSWORD", "a long enough password")
        .args([
            "admin",
            "create-user",
            "--marketplace",
            "demo",
            "--email",
            "rep@demo.example",
            "--role",
            "sales-support",
        ]);
    stdout(&run(&mut rep));
    let (store, m) = demo_store(dir.path()).await;
    // The demo's first sync fills the queue as it starts.
    let started = std::time::Instant::now();
    while store
        .sync_runs(m.id, 1)
        .await
        .expect("runs")
        .first()
        .is_none_or(|r| r.state == "running")
    {
        assert!(
            started.elapsed().as_secs() < 120,
            "the demo's first sync ends"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let named = |external: &'static str| {
        let store = store.clone();
        async move {
            store
                .company_by_external_id(m.id, external)
                .await
                .expect("get")
                .expect("a demo company")
        }
    };
    let lookalike = named("DEMO-PC3").await;
    let by_initials = named("DEMO-PC4").await;
    let shots = ferry_webdriver::screenshot_dir(env!("CARGO_MANIFEST_DIR"));
    let browser = ferry_webdriver::Browser::start().await;
    let sign_in = |email: &'static str, password: String| {
        let browser = &browser;
        let url = demo.url.clone();
        async move {
            browser.goto(&format!("{url}/sign-in")).await;
            browser.type_into("#email", email).await;
            browser.type_into("#password", &password).await;
            browser.click("button[type=submit]").await;
        }
    };
    let sign_out = || async {
        browser
            .execute("document.querySelector(\"form[action='/sign-out']\").submit()")
            .await;
        browser.wait_for("!!document.querySelector('#email')").await;
    };
    let pending = format!("{}/m/demo/pending-companies", demo.url);

    sign_in("rep@demo.example", "a long enough password".into()).await;
    assert!(!browser.source().await.contains("Pending Companies"));
    browser.goto(&pending).await;
    assert_eq!(browser.text("h1").await, "Not allowed");
    browser.shot(&shots, "pending-1-rep-refused").await;
    sign_out().await;

    sign_in("manager@demo.example", password.clone()).await;
    assert!(
        browser
            .text(".stats")
            .await
            .contains("Tenants waiting in Pending Companies")
    );
    browser.click("nav a[href='/m/demo/settings/sync']").await;
    browser
        .execute("document.querySelector('input[name=sales_support_pending]').checked = true")
        .await;
    browser.click("#company-sync button[type=submit]").await;
    assert!(browser.source().await.contains("Saved."));
    assert!(browser.text("#sync-runs").await.contains("completed"));
    browser
        .shot(&shots, "pending-2-manager-lets-sales-support")
        .await;
    sign_out().await;

    sign_in("rep@demo.example", "a long enough password".into()).await;
    browser
        .click("nav a[href='/m/demo/pending-companies']")
        .await;
    browser
        .execute("document.querySelector('#match').value = 'yes'")
        .await;
    browser.click("form.filters button").await;
    let matched = browser.text("#pending-list tbody").await;
    let tenant = lookalike.name.trim_end_matches(" Ltd");
    assert!(
        matched.contains(tenant) && matched.contains("Match"),
        "{matched}"
    );
    browser.shot(&shots, "pending-3-queue-with-matches").await;
    browser.type_into("#q", tenant).await;
    browser.click("form.filters button").await;
    browser.click("#pending-list tbody a").await;
    let suggestions = browser.text("#suggestions").await;
    assert!(
        suggestions.contains(&lookalike.name)
            && suggestions.contains("the same name after removing 'Ltd'"),
        "{suggestions}"
    );
    browser
        .shot(&shots, "pending-4-suggestion-and-reasons")
        .await;
    browser.click("#suggestions form button").await;
    assert_eq!(browser.text("#pending-state").await, "linked");
    assert_eq!(browser.text("#pending-company").await, lookalike.name);

    // The company known by its initials: only its website's domain says which tenant it is.
    browser.goto(&format!("{pending}?match=yes")).await;
    let rows = browser
        .execute("return [...document.querySelectorAll('#pending-list tbody tr')].length")
        .await;
    assert!(rows.as_u64().is_some_and(|n| n >= 1), "{rows}");
    let waiting = store
        .pending_companies(
            m.id,
            &ferry_storage::PendingQuery {
                matched: Some(true),
                limit: 500,
                ..ferry_storage::PendingQuery::default()
            },
        )
        .await
        .expect("queue");
    let by_domain = waiting
        .iter()
        .find(|p| p.suggestions.iter().any(|s| s.id == by_initials.id))
        .expect("the tenant the initials' website names");
    browser.goto(&format!("{pending}/{}", by_domain.id)).await;
    let suggestions = browser.text("#suggestions").await;
    assert!(
        suggestions.contains(&by_initials.name) && suggestions.contains("= website"),
        "{suggestions}"
    );
    browser.shot(&shots, "pending-5-matched-by-domain").await;

    // A tenant with no match: its company is created, its admin invited.
    let unmatched = store
        .pending_companies(
            m.id,
            &ferry_storage::PendingQuery {
                matched: Some(false),
                limit: 2,
                ..ferry_storage::PendingQuery::default()
            },
        )
        .await
        .expect("queue");
    let (create, dismiss) = (&unmatched[0], &unmatched[1]);
    browser.goto(&format!("{pending}/{}", create.id)).await;
    browser.click("#create").await;
    assert!(browser.source().await.contains("being created"));
    let started = std::time::Instant::now();
    while store
        .pending_company(m.id, create.id)
        .await
        .expect("get")
        .is_none_or(|p| p.state != ferry_domain::PendingState::Created)
    {
        assert!(started.elapsed().as_secs() < 60, "the company is created");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    browser.goto(&format!("{pending}/{}", create.id)).await;
    assert_eq!(browser.text("#pending-state").await, "created");
    browser.shot(&shots, "pending-6-created").await;
    let contact = create.contact_email.clone().expect("a primary contact");
    let outbox = store.outbox(Some(m.id), 50).await.expect("outbox");
    assert!(
        outbox
            .iter()
            .any(|e| e.to_address.eq_ignore_ascii_case(&contact)),
        "the new company's admin {contact} is invited"
    );

    browser.goto(&format!("{pending}/{}", dismiss.id)).await;
    browser.click("#dismiss").await;
    assert_eq!(browser.text("#pending-state").await, "dismissed");
    browser.shot(&shots, "pending-7-dismissed").await;
    sign_out().await;

    sign_in("manager@demo.example", password).await;
    browser.click("nav a[href='/m/demo/outbox']").await;
    assert!(browser.source().await.contains(&contact));
    browser
        .shot(&shots, "pending-8-invitation-in-the-outbox")
        .await;
    println!("screenshots of Pending Companies: {}", shots.display());
}

/// `ferry sync` against the demo, as a script uses it: the settings changed and printed, a sync
/// run at once (joining the demo's first one if it still runs), the queue as JSON with its
/// contract's fields, a tenant linked, one created, one dismissed and brought back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_sync_works_the_queue_from_a_script() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo(dir.path(), "Partner Center:");
    let token = demo_token(dir.path());
    // `ferry sync …` or `ferry users …` against the demo's API.
    let remote = |command: &str, args: &[&str]| {
        let mut ferry = ferry(dir.path(), "");
        ferry
            .env_remove("FERRY_DATABASE_URL")
            .env("FERRY_SERVER", &demo.url)
            .env("FERRY_TOKEN", &token)
            .arg(command)
            .args(args);
        run(&mut ferry)
    };
    let sync = |args: &[&str]| remote("sync", args);

    let settings = stdout(&sync(&[
        "settings",
        "--customer-support-pending",
        "on",
        "--interval-minutes",
        "30",
    ]));
    assert!(
        settings.contains("company sync               on")
            && settings.contains("customer support pending   on")
            && settings.contains("interval                   30 minutes"),
        "{settings}"
    );
    fails_with(
        &sync(&["settings", "--interval-minutes", "1"]),
        "The interval must be 5 to 10,080 minutes (a week). (422)",
    );
    let found = stdout(&sync(&["now"]));
    assert!(
        found.starts_with("sync ") && found.contains("completed"),
        "{found}"
    );

    let listed = stdout(&sync(&["pending", "--format", "json"]));
    let queue: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("json");
    assert!(
        queue.len() > 100,
        "the demo's tenants wait: {}",
        queue.len()
    );
    for field in [
        "id",
        "tenant_id",
        "name",
        "domain",
        "country",
        "first_seen",
        "match",
        "suggestions",
    ] {
        assert!(queue[0].get(field).is_some(), "{field} in {}", queue[0]);
    }
    let matched = queue
        .iter()
        .find(|p| p["match"] == true)
        .expect("a tenant with a suggestion");
    let best = &matched["suggestions"][0];
    assert!(best["score"].as_u64().is_some_and(|s| s >= 50), "{best}");
    assert!(
        best["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "{best}"
    );
    let id = |p: &serde_json::Value| p["id"].as_i64().expect("an id").to_string();
    let linked = stdout(&sync(&[
        "link",
        &id(matched),
        &best["company_id"].as_i64().expect("a company").to_string(),
    ]));
    assert!(
        linked.contains(&format!(
            "linked to {}",
            best["company_name"].as_str().unwrap_or("")
        )),
        "{linked}"
    );
    fails_with(
        &sync(&["link", &id(matched), &best["company_id"].to_string()]),
        "was already linked to",
    );

    let unmatched: Vec<&serde_json::Value> = queue
        .iter()
        .filter(|p| p["match"] == false)
        .take(2)
        .collect();
    let created = stdout(&sync(&["create", &id(unmatched[0])]));
    assert!(created.contains(": created "), "{created}");
    let dismissed = stdout(&sync(&["dismiss", &id(unmatched[1])]));
    assert!(dismissed.contains(": dismissed"), "{dismissed}");
    let csv = stdout(&sync(&[
        "pending",
        "--format",
        "csv",
        "--state",
        "dismissed",
    ]));
    assert!(
        csv.starts_with("id,tenant_id,name,domain,country,") && csv.lines().count() == 2,
        "{csv}"
    );
    let restored = stdout(&sync(&["dismiss", "--undo", &id(unmatched[1])]));
    assert!(restored.contains(": pending"), "{restored}");

    // User Sync (on in the demo): off, refused; on again, it runs and changes nothing twice.
    let off = stdout(&sync(&[
        "settings",
        "--user-sync-partner-center",
        "off",
        "--user-sync-google",
        "off",
    ]));
    assert!(off.contains("user sync partner center   off"), "{off}");
    assert!(off.contains("user sync google           off"), "{off}");
    fails_with(
        &sync(&["users"]),
        "User Sync is off: turn it on in Sync Settings first. (409)",
    );
    stdout(&sync(&[
        "settings",
        "--user-sync-partner-center",
        "on",
        "--user-sync-google",
        "on",
    ]));
    let users = stdout(&sync(&["users"]));
    assert!(
        users.starts_with("user sync ") && users.contains(": completed: "),
        "{users}"
    );
    let again = stdout(&sync(&["users"]));
    assert!(
        again.contains(": completed: 0 created, 0 updated"),
        "{again}"
    );

    // The synced users wait, not invited, until invited in bulk.
    let users = |args: &[&str]| remote("users", args);
    let waiting = stdout(&users(&[
        "list",
        "--synced-not-invited",
        "--format",
        "json",
    ]));
    let waiting: Vec<serde_json::Value> = serde_json::from_str(&waiting).expect("json");
    assert!(!waiting.is_empty(), "the linked companies' users arrived");
    for field in [
        "id",
        "email",
        "first_name",
        "last_name",
        "status",
        "origin",
        "invited",
    ] {
        assert!(waiting[0].get(field).is_some(), "{field} in {}", waiting[0]);
    }
    assert!(
        waiting
            .iter()
            .all(|u| u["origin"] == "sync" && u["invited"] == false)
    );
    let invited = stdout(&users(&["invite", "--all-synced-not-invited"]));
    assert!(invited.starts_with("invitations: "), "{invited}");
    let left = stdout(&users(&[
        "list",
        "--synced-not-invited",
        "--format",
        "json",
    ]));
    assert_eq!(left.trim(), "[]", "every synced user invited");

    // Google Workspace: a key Google refuses is saved and says why; the demo's key works.
    let key_file = dir.path().join("data/google-service-account.json");
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).expect("the demo's key"))
            .expect("json");
    let token_uri = key["token_uri"].as_str().expect("token_uri");
    let google_url = token_uri
        .strip_suffix("/token")
        .expect("the emulator's address");
    let foreign = dir.path().join("foreign-key.json");
    let other = ferry_emulators::google::Emulator::new(ferry_emulators::google::Options {
        seed: 7,
        customers: 4,
        resellers: 1,
        ..Default::default()
    });
    std::fs::write(&foreign, other.service_account_key(google_url)).expect("write");
    let connect = |file: &Path| {
        let file = file.display().to_string();
        let args = [
            "connect",
            "--key-file",
            &file,
            "--admin",
            "admin@demo.example",
        ];
        remote("google", &[&args[..], &["--api-url", google_url]].concat())
    };
    fails_with(
        &connect(&foreign),
        "the connection is saved, but Google refused the service account: Invalid JWT Signature",
    );
    let works = stdout(&connect(&key_file));
    assert!(works.contains("works: Google gave a token"), "{works}");
    let company = best["company_id"].to_string();
    let linked = stdout(&remote(
        "company",
        &["google-link", &company, "--domain", "Example.COM"],
    ));
    assert_eq!(
        linked.trim(),
        format!("company {company} → Google Workspace domain example.com")
    );
    fails_with(
        &remote("company", &["google-link", &company, "--customer", "nope"]),
        "is not a Google customer id",
    );
}

/// `/metrics` of the demo after a dataset, Get Hierarchy (inside Company Sync) and User Sync
/// have run: parsed as the Prometheus text format, the expected series there with sensible
/// values, only for the metrics token (or on the metrics address), and no marketplace data in
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scrapes_the_metrics_of_the_demo() {
    const TOKEN: &str = "metrics-token-for-the-test";
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics_address = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        free.local_addr().expect("address")
    };
    let mut command = ferry(dir.path(), "");
    command
        .env_remove("FERRY_DATABASE_URL")
        .env("FERRY_METRICS_TOKEN", TOKEN)
        .env("FERRY_METRICS_LISTEN", metrics_address.to_string())
        .arg("demo");
    let demo = Running::start(command, "Partner Center:");
    let (store, demo_marketplace) = demo_store(dir.path()).await;
    let m = demo_marketplace.id;
    // The first Company Sync (Get Hierarchy inside) and User Sync, queued by the demo.
    let started = std::time::Instant::now();
    loop {
        let company = store.sync_runs(m, 1).await.expect("runs");
        let users = store.user_sync_runs(m, 1).await.expect("runs");
        let done = |state: Option<&str>| state.is_some_and(|s| s != "running");
        if done(company.first().map(|r| r.state.as_str()))
            && done(users.first().map(|r| r.state.as_str()))
        {
            break;
        }
        assert!(started.elapsed().as_secs() < 120, "the first syncs end");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let example = dir.path().join("data/example-dataset");
    let file = |name: &str| example.join(name).display().to_string();
    let mut upload = ferry(dir.path(), "");
    upload
        .env_remove("FERRY_DATABASE_URL")
        .env("FERRY_SERVER", &demo.url)
        .env("FERRY_TOKEN", demo_token(dir.path()))
        .args(["dataset", "upload", "--name", "Metrics"])
        .args([
            "--companies",
            &file("companies.csv"),
            "--users",
            &file("users.csv"),
        ])
        .args(["--memberships", &file("memberships.csv")]);
    stdout(&run(&mut upload));

    ferry_integrations::install_tls();
    let http = reqwest::Client::new();
    let scrape = |address: String, token: Option<&str>| {
        let mut request = http.get(format!("{address}/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for wrong in [None, Some("not-the-token")] {
        let refused = scrape(demo.url.clone(), wrong).await.expect("answer");
        assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let text = scrape(demo.url.clone(), Some(TOKEN))
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    for private in ["Demo Marketplace", "manager@demo.example", "/m/demo/"] {
        assert!(!text.contains(private), "{private} in the metrics");
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        parsed
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.last().map_or(0.0, |b| b.count)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .sum()
    };
    let finished = |kind: &str| {
        value(
            "ferry_jobs_finished_total",
            &[("kind", kind), ("outcome", "succeeded")],
        )
    };
    for kind in ["sync.companies", "sync.users", "dataset.validate"] {
        assert!(finished(kind) >= 1.0, "{kind} finished: {text}");
    }
    assert!(value("ferry_job_duration_seconds", &[("kind", "sync.companies")]) >= 1.0);
    let answered = value("ferry_partner_center_calls_total", &[("outcome", "2xx")]);
    assert!(
        answered >= 300.0,
        "a call per customer at least: {answered}"
    );
    assert!(
        value(
            "ferry_partner_center_calls_total",
            &[
                ("route", "/v1/customers/:id/subscriptions"),
                ("outcome", "2xx")
            ]
        ) >= 1.0
    );
    assert!(value("ferry_dataset_rows_total", &[]) >= 5.0);
    assert!(
        value(
            "ferry_dataset_findings_total",
            &[("code", "INVALID_COUNTRY")]
        ) >= 1.0
    );
    let uploads = [
        ("method", "POST"),
        ("route", "/api/v1/datasets"),
        ("status", "202"),
    ];
    assert!(
        value("ferry_http_requests_total", &uploads) >= 1.0,
        "{text}"
    );
    assert!(value("ferry_http_request_duration_seconds", &uploads[..2]) >= 1.0);
    assert!(
        parsed
            .samples
            .iter()
            .any(|s| s.metric == "ferry_scheduler_lag_seconds")
    );
    assert_eq!(
        value(
            "ferry_jobs",
            &[("kind", "sync.companies"), ("state", "running")]
        ),
        0.0
    );

    // The metrics address answers without a token, and only /metrics.
    let alone = format!("http://{metrics_address}");
    let open = scrape(alone.clone(), None).await.expect("answer");
    assert_eq!(open.status(), reqwest::StatusCode::OK);
    assert!(
        open.text()
            .await
            .expect("text")
            .contains("ferry_jobs_finished_total")
    );
    let other = http
        .get(format!("{alone}/healthz"))
        .send()
        .await
        .expect("answer");
    assert_eq!(other.status(), reqwest::StatusCode::NOT_FOUND);
}

/// User Sync on the demo, in headless Chromium: the manager runs User Sync, filters the users
/// it brought in that were never invited, ticks them, invites them, and finds the invitations in
/// the Outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_invites_the_synced_users_of_the_demo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo(dir.path(), "Partner Center:");
    let password = demo.printed_after("Password:");
    let (store, demo_marketplace) = demo_store(dir.path()).await;
    let m = demo_marketplace.id;
    let shots = ferry_webdriver::screenshot_dir(env!("CARGO_MANIFEST_DIR"));
    let browser = ferry_webdriver::Browser::start().await;
    browser.goto(&demo.url).await;
    browser.type_into("#email", "manager@demo.example").await;
    browser.type_into("#password", &password).await;
    browser.click("button[type=submit]").await;

    browser
        .goto(&format!("{}/m/demo/settings/sync", demo.url))
        .await;
    browser.click("form[action$='/sync/users'] button").await;
    let started = std::time::Instant::now();
    while store
        .user_sync_runs(m, 5)
        .await
        .expect("runs")
        .iter()
        .any(|r| r.state == "running")
        || store.user_sync_runs(m, 1).await.expect("runs").is_empty()
    {
        assert!(started.elapsed().as_secs() < 60, "User Sync ends");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    browser
        .goto(&format!("{}/m/demo/settings/sync", demo.url))
        .await;
    let runs = browser.text("#user-sync-runs").await;
    assert!(
        runs.contains("completed") && runs.contains("created"),
        "{runs}"
    );
    browser.shot(&shots, "users-1-user-sync-runs").await;

    browser.click("nav a[href='/m/demo/users']").await;
    browser
        .execute("document.querySelector('#show').value = 'synced-not-invited'")
        .await;
    browser.click("form.filters button").await;
    let listed = browser.text("#user-list tbody").await;
    assert!(
        listed.contains("sync") && listed.contains("created"),
        "{listed}"
    );
    browser.shot(&shots, "users-2-synced-not-invited").await;
    let ticked = browser
        .execute(
            "const boxes = document.querySelectorAll('input[name=id]'); \
             boxes.forEach(b => b.checked = true); return boxes.length",
        )
        .await;
    let ticked = ticked.as_u64().expect("a count");
    assert!(ticked >= 2, "several synced users: {ticked}");
    browser.click("#invite-selected").await;
    assert!(
        browser
            .source()
            .await
            .contains("The invitations are being sent")
    );
    let started = std::time::Instant::now();
    while (store.outbox(Some(m), 500).await.expect("outbox").len() as u64) < ticked {
        assert!(
            started.elapsed().as_secs() < 60,
            "every invitation is in the outbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    browser.click("nav a[href='/m/demo/outbox']").await;
    assert!(
        browser
            .source()
            .await
            .contains("Your account at Demo Marketplace")
    );
    browser
        .shot(&shots, "users-3-invitations-in-the-outbox")
        .await;
    browser
        .goto(&format!(
            "{}/m/demo/users?show=synced-not-invited",
            demo.url
        ))
        .await;
    assert!(
        browser
            .source()
            .await
            .contains("No user matches these filters.")
    );

    // Registration reminders: turned on, none is due today; two days on (the clock moved for
    // `ferry admin send-reminders`), each invited user who has not registered gets one.
    browser
        .goto(&format!("{}/m/demo/settings/sync", demo.url))
        .await;
    browser
        .execute("document.querySelector('input[name=registration_reminders]').checked = true")
        .await;
    browser.click("#user-sync button[type=submit]").await;
    let reminders = |at: Option<String>| {
        let mut admin = ferry(dir.path(), "");
        admin
            .env_remove("FERRY_DATABASE_URL")
            .args(["admin", "send-reminders"]);
        if let Some(at) = &at {
            admin.args(["--at", at]);
        }
        stdout(&run(&mut admin))
    };
    assert_eq!(reminders(None).trim(), "0 registration reminders sent");
    let two_days_on = (time::OffsetDateTime::now_utc() + time::Duration::hours(49))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time");
    let sent = reminders(Some(two_days_on.clone()));
    assert_eq!(sent.trim(), format!("{ticked} registration reminders sent"));
    assert_eq!(
        reminders(Some(two_days_on)).trim(),
        "0 registration reminders sent",
        "once"
    );
    browser.click("nav a[href='/m/demo/outbox']").await;
    assert!(
        browser
            .source()
            .await
            .contains("Reminder: your account at Demo Marketplace")
    );
    browser
        .shot(&shots, "users-4-reminders-in-the-outbox")
        .await;
    println!("screenshots of User Sync: {}", shots.display());
}

/// The worker-crash guarantee, on PostgreSQL with real processes: a worker is killed in the
/// middle of a job, another finishes it from the checkpoint, and no step is done twice.
#[tokio::test]
async fn a_killed_workers_job_is_finished_by_another_from_its_checkpoint() {
    const STEPS: i64 = 40;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::postgres_url().await;
    stdout(&run(ferry(dir.path(), &url).arg("migrate")));
    let store = ferry_storage::connect(&url).await.expect("connect");
    let job_id = queue_probe(&store, STEPS, 50, 5).await;

    let worker = || {
        let mut command = ferry(dir.path(), &url);
        command
            .arg("worker")
            .env("FERRY_WORKERS", "1")
            .env("FERRY_JOB_LEASE_SECONDS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command.spawn().expect("spawn worker")
    };
    let mut first = worker();
    let first_pid = first.id().to_string();
    let job = wait_for(&store, job_id, |job| job.progress_done >= 10).await;
    assert!(
        owner_pid(job.lease_owner.as_deref()) == first_pid,
        "the first worker runs it"
    );

    let mut second = worker();
    first.kill().expect("kill the first worker");
    first.wait().expect("reap");
    let job = wait_for(&store, job_id, |job| job.state.is_finished()).await;
    second.kill().expect("stop the second worker");
    second.wait().expect("reap");

    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.last_error);
    assert_eq!(job.attempts, 2, "claimed once by each worker");
    let finisher = owner_pid(job.lease_owner.as_deref());
    assert_eq!(
        finisher,
        second.id().to_string(),
        "the second worker finished it"
    );

    let steps = store.audit_trail("job", job_id).await.expect("audit");
    let done: Vec<(i64, String)> = steps
        .iter()
        .map(|e| {
            let step = e.changes["step"].as_i64().expect("step");
            let worker = e.changes["worker"].as_str().expect("worker");
            (step, owner_pid(Some(worker)))
        })
        .collect();
    let numbers: Vec<i64> = done.iter().map(|(step, _)| *step).collect();
    assert_eq!(
        numbers,
        (0..STEPS).collect::<Vec<_>>(),
        "every step exactly once, in order"
    );
    let handover = done
        .iter()
        .position(|(_, pid)| *pid == finisher)
        .expect("second worked");
    assert!(
        handover >= 10,
        "the second worker resumed from the checkpoint, not from the start"
    );
    assert!(done[..handover].iter().all(|(_, pid)| *pid == first_pid));
    assert!(done[handover..].iter().all(|(_, pid)| *pid == finisher));
}

/// Two `ferry worker` processes share a PostgreSQL database in which a probe is scheduled every
/// second: each due run is queued exactly once while both run, and after one is killed.
#[tokio::test]
async fn two_workers_queue_each_scheduled_run_once_even_when_one_is_killed() {
    const EVERY: i64 = 1_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = ferry_storage::testing::TestDatabase::postgres().await;
    let url = database.url();
    let admin = |every: &str| {
        run(ferry(dir.path(), url).args(["admin", "probe", "--steps", "0", "--every-ms", every]))
    };
    assert!(
        admin(&EVERY.to_string()).status.success(),
        "the probe is scheduled"
    );
    let store = ferry_storage::connect(url).await.expect("connect");

    let worker = || {
        let mut command = ferry(dir.path(), url);
        command
            .arg("worker")
            .env("FERRY_WORKERS", "1")
            .env("FERRY_JOB_LEASE_SECONDS", "1")
            .env("FERRY_SCHEDULER_TICK_MS", "20")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command.spawn().expect("spawn worker")
    };
    let mut first = worker();
    let mut second = worker();
    let probes = || async {
        let mut jobs = store.jobs(None, 1_000).await.expect("jobs");
        jobs.retain(|job| job.kind == Probe::KIND);
        jobs.sort_by_key(|job| job.run_at);
        jobs
    };
    let wait_for_runs = |after: i64, count: usize| {
        let probes = &probes;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let jobs = probes().await;
                if jobs
                    .iter()
                    .filter(|job| job.run_at.millis() > after)
                    .count()
                    >= count
                {
                    return;
                }
                assert!(Instant::now() < deadline, "timed out; the runs: {jobs:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for_runs(0, 4).await;
    first.kill().expect("kill the first worker");
    first.wait().expect("reap");
    let killed_at = ferry_storage::now().millis();
    wait_for_runs(killed_at, 4).await;
    assert!(admin("0").status.success(), "the schedule is removed");
    second.kill().expect("stop the second worker");
    second.wait().expect("reap");

    let jobs = probes().await;
    let slots: Vec<i64> = jobs.iter().map(|job| job.run_at.millis()).collect();
    let distinct: HashSet<i64> = slots.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        slots.len(),
        "a slot queued twice: {slots:?}"
    );
    let first_slot = slots[0];
    assert!(
        slots.iter().all(|slot| (slot - first_slot) % EVERY == 0),
        "every run stands for a slot of the rhythm: {slots:?}"
    );
    assert!(
        slots.iter().any(|slot| *slot > killed_at),
        "the surviving worker's scheduler carried on"
    );
    // A slot is left out only while the run before it had not finished (runs never pile up).
    for pair in jobs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let next_slot = before.run_at.millis() + EVERY;
        if after.run_at.millis() > next_slot {
            let finished = before.finished_at.unwrap_or(i64::MAX);
            assert!(
                finished > next_slot,
                "slot {next_slot} was missed although the run before it had finished: {jobs:?}"
            );
        }
    }
}

/// The process id inside a worker id (`host:pid:slot`).
fn owner_pid(owner: Option<&str>) -> String {
    owner
        .and_then(|o| o.split(':').nth(1))
        .unwrap_or_default()
        .to_owned()
}

/// SIGTERM stops `ferry serve` within seconds even with a job in hand: the job is queued
/// again uncounted, and the next start resumes it from its checkpoint, each step done once.
#[cfg(unix)]
#[tokio::test]
async fn a_stop_signal_stops_serve_in_seconds_and_its_job_resumes() {
    const STEPS: i64 = 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    stdout(&run(ferry(dir.path(), &url).arg("migrate")));
    let store = ferry_storage::connect(&url).await.expect("connect");
    let job_id = queue_probe(&store, STEPS, 100, 3).await;
    let serve = || {
        let mut command = ferry(dir.path(), &url);
        command.arg("serve").env("FERRY_WORKERS", "1");
        Running::start(command, "listening on")
    };

    let mut first = serve();
    wait_for(&store, job_id, |job| job.progress_done >= 5).await;
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = loop {
        if let Some(status) = first.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "ferry serve still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let job = store.job(job_id).await.expect("get").expect("job");
    assert_eq!(job.state, JobState::Queued, "queued again: {job:?}");
    assert_eq!(job.attempts, 0, "an interrupted run is not an attempt");
    assert!(job.progress_done >= 5 && job.progress_done < STEPS);

    let second = serve();
    let job = wait_for(&store, job_id, |job| job.state.is_finished()).await;
    drop(second);
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.last_error);
    let steps: Vec<i64> = store
        .audit_trail("job", job_id)
        .await
        .expect("audit")
        .iter()
        .map(|e| e.changes["step"].as_i64().expect("step"))
        .collect();
    assert_eq!(
        steps,
        (0..STEPS).collect::<Vec<_>>(),
        "every step once, in order"
    );
}

/// Queues a probe of `steps` steps of `step_ms` each.
async fn queue_probe(
    store: &std::sync::Arc<dyn Store>,
    steps: i64,
    step_ms: u64,
    max_attempts: i32,
) -> i64 {
    store
        .enqueue_job(&NewJob {
            marketplace_id: None,
            kind: Probe::KIND.into(),
            payload: json!({ "steps": steps, "step_ms": step_ms }),
            max_attempts,
            run_at: None,
        })
        .await
        .expect("enqueue")
}

async fn wait_for(
    store: &std::sync::Arc<dyn Store>,
    job_id: i64,
    done: impl Fn(&ferry_storage::Job) -> bool,
) -> ferry_storage::Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = store.job(job_id).await.expect("get").expect("job");
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting; the job is {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With an SMTP server configured, an invitation leaves by SMTP and leaves the outbox; the
/// server here is a real SMTP sink (aiosmtpd, which scripts/test installs from PyPI).
#[tokio::test]
async fn invitations_leave_by_smtp_when_a_server_is_configured() {
    let python = std::env::var("FERRY_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "FERRY_TEST_PYTHON is not set: this test needs the Python with aiosmtpd that \
             scripts/test installs. Run the suite with scripts/test."
        )
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let maildir = dir.path().join("mail");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut sink = Command::new(&python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the SMTP sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let url = ferry_storage::testing::sqlite_url(dir.path());
    let slug = stdout(&run(ferry(dir.path(), &url).args([
        "admin",
        "create-marketplace",
        "--name",
        "Mail",
    ])));
    let token = stdout(&run(ferry(dir.path(), &url).args([
        "admin",
        "create-token",
        "--marketplace",
        slug.trim(),
        "--role",
        "marketplace-manager",
    ])));
    let mut command = ferry(dir.path(), &url);
    command
        .arg("serve")
        .env("FERRY_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .env("FERRY_SMTP_FROM", "Mail Marketplace <noreply@mail.example>");
    let server = Running::start(command, "listening on");
    let auth = format!(
        "Authorization: Bearer {}\r\nContent-Type: application/json\r\n",
        token.trim()
    );
    let (status, created) = server.request(
        "POST",
        "/api/v1/users",
        &auth,
        r#"{"email": "ivy@mail.example"}"#,
    );
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<serde_json::Value>(&created).expect("json")["id"]
        .as_i64()
        .expect("id");
    let (status, _) = server.request("POST", &format!("/api/v1/users/{id}/invitation"), &auth, "");
    assert_eq!(status, 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let delivered = std::fs::read_dir(maildir.join("new"))
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|entry| std::fs::read_to_string(entry.path()).ok());
        if let Some(message) = delivered {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "no message reached the SMTP sink"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    sink.kill().expect("stop the sink");
    sink.wait().expect("reap");
    assert!(message.contains("ivy@mail.example"), "{message}");
    assert!(message.contains("noreply@mail.example"), "{message}");
    assert!(
        message.contains("/invitations/"),
        "the link is in the message: {message}"
    );
    let store = ferry_storage::connect(&url).await.expect("connect");
    let marketplace = store
        .marketplace_by_slug(slug.trim())
        .await
        .expect("get")
        .expect("marketplace");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store
        .outbox(Some(marketplace.id), 10)
        .await
        .expect("outbox")
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the sent message is still in the outbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_partner_center_emulator_prints_its_credentials_and_dumps_its_world() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("world.json");
    let mut command = ferry(dir.path(), "sqlite://unused.db");
    command
        .args([
            "emulator",
            "partner-center",
            "--customers",
            "7",
            "--seed",
            "3",
            "--dump",
        ])
        .arg(&dump)
        .args(["--listen", "127.0.0.1:0"]);
    let emulator = Running::start(command, "base_url:");
    for key in [
        "partner_tenant_id: ",
        "client_id: ",
        "client_secret: ",
        "refresh_token: ",
    ] {
        assert!(
            emulator.printed.contains(key),
            "{key} in {}",
            emulator.printed
        );
    }
    let world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&dump).expect("dump")).expect("json");
    assert_eq!(world["customers"].as_array().map(Vec::len), Some(7));
    assert!(world["customers"][0]["billingProfile"].is_object());
    let (status, stats) = emulator.get("/_admin/stats");
    assert_eq!(status, 200, "{stats}");
}

/// `ferry instance add | list | check` through a running server, against the Partner Center
/// emulator: the country tenant's parent works, a simple tenant sees nothing of it, and no
/// secret reaches the server's logs even at debug level.
#[tokio::test]
async fn instances_through_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    let mut emulator = ferry(dir.path(), &url);
    emulator.args([
        "emulator",
        "partner-center",
        "--customers",
        "5",
        "--listen",
        "127.0.0.1:0",
    ]);
    let emulator = Running::start(emulator, "base_url:");
    let value = |key: &str| {
        emulator
            .printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .map(str::to_owned)
            .expect("printed")
    };
    let (secret, refresh) = (value("client_secret"), value("refresh_token"));
    let admin = |args: &[&str]| stdout(&run(ferry(dir.path(), &url).arg("admin").args(args)));
    let parent = admin(&["create-marketplace", "--name", "Parent"])
        .trim()
        .to_owned();
    let shop = admin(&[
        "create-marketplace",
        "--name",
        "Shop",
        "--parent",
        &parent,
        "--kind",
        "simple",
    ])
    .trim()
    .to_owned();
    let token = |slug: &str| {
        admin(&[
            "create-token",
            "--marketplace",
            slug,
            "--role",
            "marketplace-manager",
        ])
        .trim()
        .to_owned()
    };
    let (parent_token, shop_token) = (token(&parent), token(&shop));

    let (server, log) = serve_logging_to_a_file(
        dir.path(),
        &url,
        &[
            ("FERRY_LOG", "debug"),
            ("FERRY_PARTNER_CENTER_LOCAL", "true"),
        ],
    );
    let client = |token: &str| {
        let mut command = ferry(dir.path(), &url);
        command
            .env("FERRY_SERVER", &server.url)
            .env("FERRY_TOKEN", token)
            .env("PC_SECRET", &secret)
            .env("PC_REFRESH", &refresh);
        command
    };
    let added = run(client(&parent_token).args([
        "instance",
        "add",
        "--name",
        "Contoso CSP",
        "--model",
        "both",
        "--tenant-id",
        &value("partner_tenant_id"),
        "--app-id",
        &value("client_id"),
        "--secret-env",
        "PC_SECRET",
        "--refresh-token-env",
        "PC_REFRESH",
        "--api-url",
        &emulator.url,
        "--login-url",
        &emulator.url,
    ]));
    assert!(stdout(&added).trim().parse::<i64>().is_ok());
    let checked = stdout(&run(client(&parent_token).args([
        "instance",
        "check",
        "Contoso CSP",
    ])));
    assert_eq!(checked.trim(), "Contoso CSP: authenticated");
    let listed = stdout(&run(client(&parent_token).args(["instance", "list"])));
    assert!(
        listed.contains("Contoso CSP") && listed.contains("authenticated"),
        "{listed}"
    );
    let turned = stdout(&run(client(&parent_token).args([
        "instance",
        "validation",
        "on",
    ])));
    assert_eq!(
        turned.trim(),
        "Microsoft records of datasets are checked against Partner Center"
    );
    let listed = stdout(&run(client(&shop_token).args(["instance", "list"])));
    assert!(
        !listed.contains("Contoso CSP"),
        "a simple tenant does not see it: {listed}"
    );
    fails_with(
        &run(client(&shop_token).args(["instance", "check", "Contoso CSP"])),
        "no Partner Center instance is named 'Contoso CSP'",
    );

    // Get Hierarchy: the whole instance, then one tenant Partner Center does not know.
    let got = stdout(&run(client(&parent_token).args([
        "hierarchy",
        "get",
        "--instance",
        "Contoso CSP",
    ])));
    assert!(
        got.contains(" tenants, ") && got.contains("first retrieval"),
        "{got}"
    );
    assert!(got.starts_with("4 resellers, 5 tenants, "), "{got}");
    let again = stdout(&run(client(&parent_token).args([
        "hierarchy",
        "get",
        "--instance",
        "Contoso CSP",
    ])));
    assert!(
        again.contains("nothing changed since the last retrieval"),
        "{again}"
    );
    let listed = stdout(&run(client(&parent_token).args([
        "tenants",
        "list",
        "--instance",
        "Contoso CSP",
        "--format",
        "json",
    ])));
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let items = listed.as_array().expect("an array");
    let count = |kind: &str| items.iter().filter(|t| t["type"] == kind).count();
    assert_eq!((count("reseller"), count("customer")), (4, 5), "{listed}");
    let customer = items
        .iter()
        .find(|t| t["type"] == "customer")
        .expect("a customer");
    assert_eq!(customer["status"], "not-imported");
    for field in [
        "tenant_id",
        "name",
        "domain",
        "reseller_tenant_id",
        "reseller_mpn_id",
        "related_companies",
        "subscriptions",
        "possible_matches",
    ] {
        assert!(customer.get(field).is_some(), "{field}: {customer}");
    }
    let csv = stdout(&run(client(&parent_token).args([
        "tenants",
        "list",
        "--instance",
        "Contoso CSP",
        "--status",
        "not-imported",
        "--format",
        "csv",
    ])));
    assert_eq!(csv.lines().count(), 6, "a header and five tenants: {csv}");
    assert!(csv.starts_with("type,tenant_id,name,domain,"), "{csv}");
    let table = stdout(&run(client(&parent_token).args([
        "tenants",
        "list",
        "--instance",
        "Contoso CSP",
        "--type",
        "reseller",
    ])));
    assert_eq!(table.lines().count(), 5, "{table}");
    let nobody = "00000000-0000-4000-8000-000000000002";
    fails_with(
        &run(client(&parent_token).args([
            "hierarchy",
            "get",
            "--instance",
            "Contoso CSP",
            "--tenant",
            nobody,
        ])),
        &format!("The Microsoft Tenant with ID '{nobody}' does not exist."),
    );
    fails_with(
        &run(client(&parent_token).args([
            "hierarchy",
            "get",
            "--instance",
            "Contoso CSP",
            "--tenant",
            "contoso",
        ])),
        "'contoso' is not a tenant id",
    );

    // The catalog from the command line, then every tenant imported, read and retried.
    let product = stdout(&run(client(&parent_token).args([
        "catalog",
        "product",
        "add",
        "--name",
        "Microsoft 365",
    ])));
    let edition = stdout(&run(client(&parent_token).args([
        "catalog",
        "edition",
        "add",
        "--product",
        product.trim(),
        "--code",
        "BASIC",
        "--name",
        "Business Basic",
        "--offer",
        "CFQ7TTC0LH18:0001",
    ])));
    assert!(edition.trim().parse::<i64>().is_ok(), "{edition}");
    run(client(&parent_token).args([
        "catalog",
        "edition",
        "offers",
        edition.trim(),
        "CFQ7TTC0LH18:0001",
        "91FD106F-4B2C-4938-95AC-F54F74E9A239",
    ]));
    let catalog = stdout(&run(client(&parent_token).args(["catalog", "list"])));
    assert!(
        catalog.contains("BASIC") && catalog.contains("91FD106F-4B2C-4938-95AC-F54F74E9A239"),
        "{catalog}"
    );
    let imported = stdout(&run(client(&parent_token).args([
        "import",
        "--instance",
        "Contoso CSP",
        "--all",
    ])));
    assert!(
        imported.contains(": completed") && imported.contains("direct"),
        "{imported}"
    );
    let results = stdout(&run(client(&parent_token).args(["results"])));
    assert_eq!(
        results
            .lines()
            .filter(|l| l.contains(" imported, "))
            .count(),
        5,
        "{results}"
    );
    let csv = stdout(&run(client(&parent_token).args(["results", "-o", "-"])));
    assert!(csv.starts_with("tab,tenant_id,"), "{csv}");
    assert!(csv.contains("OFFER_NOT_MAPPED"), "{csv}");
    let run_id = imported
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.trim_end_matches(':').parse::<i64>().ok())
        .expect("the run's id");
    let retried = stdout(&run(client(&parent_token).args([
        "results",
        "retry",
        &run_id.to_string(),
    ])));
    assert!(retried.contains("completed"), "{retried}");
    fails_with(
        &run(client(&parent_token).args(["import", "--instance", "Contoso CSP", "--all"])),
        "No tenant is waiting to be imported.",
    );
    fails_with(
        &run(ferry(dir.path(), &url).args([
            "admin",
            "set-tenant-reseller",
            "--marketplace",
            &shop,
            "--mpn-id",
            "12-3",
        ])),
        "'12-3' is not an MPN id",
    );
    drop(server);
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(logs.contains("DEBUG"), "debug logging was on");
    assert!(
        !logs.contains(&secret) && !logs.contains(&refresh),
        "a secret reached the logs"
    );
}

#[test]
fn datasets_through_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = ferry_storage::testing::sqlite_url(dir.path());
    let admin = |args: &[&str]| stdout(&run(ferry(dir.path(), &url).arg("admin").args(args)));
    let slug = admin(&["create-marketplace", "--name", "North"])
        .trim()
        .to_owned();
    let token = admin(&[
        "create-token",
        "--marketplace",
        &slug,
        "--role",
        "marketplace-manager",
    ])
    .trim()
    .to_owned();
    let mut serve = ferry(dir.path(), &url);
    serve.arg("serve");
    let server = Running::start(serve, "listening on");
    let client = || {
        let mut command = ferry(dir.path(), &url);
        command
            .env("FERRY_SERVER", &server.url)
            .env("FERRY_TOKEN", &token)
            .arg("dataset");
        command
    };
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    };
    let users = write(
        "users.csv",
        "EXTERNAL_ID,EMAIL_ADDRESS\nu-1,dana@north.example\nu-1,twice@north.example\n",
    );
    let companies = write("companies.csv", "EXTERNAL_ID,NAME\nc-1,Northwind\n");

    // Errors in some rows: the rest is activated, and the exit status says it got there.
    let spring = stdout(&run(client().args([
        "upload",
        "--name",
        "Spring",
        "--users",
        &users,
        "--companies",
        &companies,
    ])));
    assert!(spring.contains(": Activated with Errors"), "{spring}");
    assert!(
        spring.contains("outcome users")
            && spring.contains("created 1, updated 0, unchanged 0, skipped 1"),
        "{spring}"
    );
    let id: String = spring
        .split_whitespace()
        .nth(1)
        .expect("dataset id")
        .to_owned();
    let report = dir.path().join("report.csv");
    stdout(&run(client().args(["report", &id, "-o"]).arg(&report)));
    let report = std::fs::read_to_string(&report).expect("report");
    assert!(
        report.contains("users.csv,3,u-1,ERROR,DUPLICATE_RECORD"),
        "{report}"
    );

    // With review the upload stops at Validated, and activation follows on demand.
    let review = stdout(&run(client().args([
        "upload",
        "--name",
        "Again",
        "--review",
        "--companies",
        &companies,
    ])));
    assert!(review.contains(": Validated"), "{review}");
    assert!(
        review.contains("plan companies") && review.contains("unchanged 1"),
        "{review}"
    );
    let again = review.split_whitespace().nth(1).expect("id").to_owned();
    let activated = stdout(&run(client().args(["activate", &again])));
    assert!(activated.contains(": Activated"), "{activated}");
    let listed = stdout(&run(client().arg("list")));
    assert!(
        listed.contains("Spring") && listed.contains("Again"),
        "{listed}"
    );

    // A file that cannot be read: the upload fails, and says where.
    let broken = write(
        "broken.csv",
        "EXTERNAL_ID,EMAIL_ADDRESS\nu-2,\"never closed\n",
    );
    let failed = run(client().args(["upload", "--name", "Broken", "--users", &broken]));
    assert!(!failed.status.success());
    let printed = String::from_utf8_lossy(&failed.stdout);
    assert!(
        printed.contains("Upload Failed") && printed.contains("USERS: line 2"),
        "{printed}"
    );

    // An order dataset: one file, each row a company, user, membership, subscription and seat,
    // applied whole or not at all: this marketplace sells no edition NONE.
    let orders = write(
        "orders.csv",
        "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n\
         o-1,c-7,Tailspin,u-7,ann@tailspin.example,NONE,5\n",
    );
    let ordered = run(client().args(["upload", "--name", "CRM", "--orders", &orders]));
    let printed = stdout(&ordered);
    assert!(printed.contains(": Activated with Errors"), "{printed}");
    assert!(
        printed.contains(
            "outcome companies                created 0, updated 0, unchanged 0, skipped 1"
        ),
        "{printed}"
    );
    assert!(
        printed.contains(" 1 row\n") && !printed.contains("1 rows"),
        "{printed}"
    );
    let mixed = run(client().args([
        "upload", "--name", "Mixed", "--orders", &orders, "--users", &users,
    ]));
    fails_with(&mixed, "one `orders` file alone");

    let undone = stdout(&run(client().args(["delete", &id, "--undo"])));
    assert!(
        undone.starts_with("Removed "),
        "the undo says what it did: {undone}"
    );
    let listed = stdout(&run(client().arg("list")));
    assert!(!listed.contains("Spring"), "{listed}");
    let template = stdout(&run(client().args(["template", "company-entitlements"])));
    assert!(template.starts_with("EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,"));
    let as_the_page_writes_it = stdout(&run(client().args(["template", "USERS"])));
    assert!(
        as_the_page_writes_it.starts_with("EXTERNAL_ID,"),
        "{as_the_page_writes_it}"
    );
}

/// A worker killed in the middle of an activation: another carries on from the last range it
/// finished, and the marketplace ends exactly as after an uninterrupted activation.
#[tokio::test]
async fn an_activation_killed_midway_resumes_to_the_same_database() {
    killed_while_activating_resumes_to_the_same_database(true).await;
}

/// Without review, the validation job goes on to activate: killed then, it carries on
/// activating rather than staging again.
#[tokio::test]
async fn a_validation_killed_while_activating_resumes_to_the_same_database() {
    killed_while_activating_resumes_to_the_same_database(false).await;
}

/// A worker killed once the users are in is followed by another; the records end as without
/// the crash. With `review`, the activation job is killed; otherwise the validation job.
async fn killed_while_activating_resumes_to_the_same_database(review: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("dir");
    let (users, companies) = (60_000, 20_000);
    let write = |name: &str, header: &str, count: usize, row: &dyn Fn(usize) -> String| {
        let mut text = format!("{header}\n");
        for i in 0..count {
            text.push_str(&row(i));
            text.push('\n');
        }
        std::fs::write(files.join(name), text).expect("write");
    };
    write(
        "users.csv",
        "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME",
        users,
        &|i| format!("u-{i},u{i}@example.com,F{i}"),
    );
    write("companies.csv", "EXTERNAL_ID,NAME,CITY", companies, &|i| {
        format!("c-{i},Company {i},City {}", i % 7)
    });
    write(
        "memberships.csv",
        "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,SYS_ADMIN",
        users,
        &|i| format!("u-{i},c-{},{}", i % companies, i % 3 == 0),
    );

    // The reference: the same dataset, activated without interruption.
    let reference_dir = dir.path().join("reference");
    std::fs::create_dir_all(&reference_dir).expect("dir");
    let reference_url = ferry_storage::testing::sqlite_url(&reference_dir);
    let (reference, dataset) = dataset_to_activate(&reference_url, &files, review).await;
    let job = if review {
        ferry_datasets::ActivateDataset(dataset.key()).new_job()
    } else {
        ferry_datasets::ValidateDataset(dataset.key()).new_job()
    };
    reference.enqueue_job(&job).await.expect("enqueue");
    run_dataset_jobs(&reference).await;

    let url = ferry_storage::testing::sqlite_url(dir.path());
    let (store, dataset) = dataset_to_activate(&url, &files, review).await;
    let job_id = store.enqueue_job(&job).await.expect("enqueue");
    let worker = || {
        let mut command = ferry(dir.path(), &url);
        command
            .arg("worker")
            .env("FERRY_WORKERS", "1")
            .env("FERRY_JOB_LEASE_SECONDS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command.spawn().expect("spawn worker")
    };
    let mut first = worker();
    // Killed once the users are in and the companies under way.
    let job = wait_for(&store, job_id, |job| {
        job.checkpoint.as_ref().and_then(|c| c["type"].as_i64()) >= Some(1)
    })
    .await;
    first.kill().expect("kill the first worker");
    first.wait().expect("reap");
    assert!(!job.state.is_finished(), "killed before the end: {job:?}");
    let mut second = worker();
    let job = wait_for(&store, job_id, |job| job.state.is_finished()).await;
    second.kill().expect("stop the second worker");
    second.wait().expect("reap");
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.last_error);
    assert_eq!(job.attempts, 2, "claimed once by each worker");

    let finished = store
        .dataset(dataset.key())
        .await
        .expect("read")
        .expect("dataset");
    assert_eq!(finished.state, ferry_domain::DatasetState::Activated);
    assert_eq!(
        store.staged_outcomes(dataset.id).await.expect("outcomes"),
        reference
            .staged_outcomes(dataset.id)
            .await
            .expect("outcomes"),
        "every row decided once, as without the crash"
    );
    assert_eq!(
        dump(&url).await,
        dump(&reference_url).await,
        "the same records"
    );
}

/// A marketplace and a dataset uploaded in the database at `url`; with `review`, validated too.
async fn dataset_to_activate(
    url: &str,
    files: &Path,
    review: bool,
) -> (std::sync::Arc<dyn Store>, ferry_storage::Dataset) {
    use ferry_datasets::{DataType, FileUpload};
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let market = store
        .create_marketplace(&ferry_storage::NewMarketplace {
            slug: ferry_domain::Slug::parse("north").expect("slug"),
            name: "North".into(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let dataset = store
        .create_dataset(&ferry_storage::NewDataset {
            marketplace_id: market.id,
            kind: ferry_domain::DatasetKind::Migration,
            name: "Big".into(),
            provision: false,
            review,
            created_by_user: None,
            created_by_company: None,
            creator: "test".into(),
        })
        .await
        .expect("dataset");
    for data_type in [DataType::Users, DataType::Companies, DataType::Memberships] {
        let bytes = std::fs::read(files.join(format!("{}.csv", data_type.part()))).expect("read");
        let mut upload = FileUpload::start(store.clone(), dataset.id, data_type, data_type.part())
            .await
            .expect("upload");
        upload.write(&bytes).await.expect("write");
        upload.finish().await.expect("finish");
    }
    if !review {
        return (store, dataset);
    }
    store
        .enqueue_job(&ferry_datasets::ValidateDataset(dataset.key()).new_job())
        .await
        .expect("enqueue");
    run_dataset_jobs(&store).await;
    let dataset = store
        .dataset(dataset.key())
        .await
        .expect("read")
        .expect("dataset");
    assert_eq!(dataset.state, ferry_domain::DatasetState::Validated);
    (store, dataset)
}

async fn run_dataset_jobs(store: &std::sync::Arc<dyn Store>) {
    let worker = ferry_jobs::Worker::new(
        "test".into(),
        store.clone(),
        ferry_jobs::WorkerConfig::default(),
    )
    .with_job::<ferry_datasets::ValidateDataset>(None)
    .with_job::<ferry_datasets::ActivateDataset>(());
    while worker.run_next().await.expect("run") {}
}

/// The marketplace's records by their natural keys, without generated ids or times.
async fn dump(url: &str) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
    let mut rows = Vec::new();
    for sql in [
        "SELECT 'company|' || external_id || '|' || name || '|' || COALESCE(city, '') || '|' || status || '|' || origin_kind FROM companies ORDER BY external_id",
        "SELECT 'user|' || external_id || '|' || email || '|' || COALESCE(first_name, '') || '|' || status FROM users ORDER BY external_id",
        "SELECT 'member|' || u.external_id || '|' || c.external_id || '|' || m.company_admin FROM memberships m JOIN users u ON u.id = m.user_id JOIN companies c ON c.id = m.company_id ORDER BY 1",
    ] {
        let found: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&pool).await.expect("dump");
        rows.extend(found.into_iter().map(|(r,)| r));
    }
    assert!(rows.len() > 100_000, "the dump holds the records");
    rows
}
