//! A Ferry server in-process with two marketplaces and someone of every role.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use ferry_accounts::credentials::{hash_password, new_api_token, secret_hash};
use ferry_domain::{
    CompanyId, CompanyRoles, CompanyStatus, DatasetKind, DatasetState, Email, MarketplaceKind,
    NewCompany, NewUser, Origin, Role, Slug, UserId, UserStatus,
};
use ferry_server::AppState;
use ferry_storage::{
    NewDataset, NewInstance, NewJob, NewMarketplace, OutboxEmail, Store, Subject, User,
};
use serde_json::Value;
use tower::ServiceExt;

pub const PASSWORD: &str = "a password for tests";
/// The CSRF token every test browser holds (as cookie and form field).
pub const CSRF: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    Anonymous,
    PlatformAdmin,
    Staff(Role),
    /// A member of a company, with no staff role.
    CompanyUser,
}

impl Who {
    pub const ALL: [Who; 7] = [
        Who::Anonymous,
        Who::PlatformAdmin,
        Who::Staff(Role::MarketplaceManager),
        Who::Staff(Role::SalesSupport),
        Who::Staff(Role::CustomerSupport),
        Who::Staff(Role::Reseller),
        Who::CompanyUser,
    ];
}

/// A tenant marketplace with its own server.
pub struct Tenant {
    token: String,
    router: Router,
}

/// One marketplace of the test world and the ids of its records.
pub struct World {
    pub id: i64,
    pub slug: String,
    pub company: i64,
    pub pending_company: i64,
    /// A user the tests change (suspend, invite, edit); nobody signs in as them.
    pub user: i64,
    /// A token the tests revoke.
    pub token: i64,
    /// A Partner Center instance whose sign-in address answers nothing.
    pub instance: i64,
    /// A validated dataset, created by a member of `company`.
    pub dataset: i64,
    /// A product of the catalog.
    pub product: i64,
    /// A simple tenant of the marketplace, which may be made a tenant reseller.
    pub tenant_reseller: i64,
    /// An import run of one tenant, still running (no worker takes its job).
    pub import: i64,
    /// An edition of `product`.
    pub edition: i64,
    /// A tenant waiting in Pending Companies, suggested `company`; the import holds it.
    pub pending_tenant: i64,
}

pub struct App {
    pub store: Arc<dyn Store>,
    router: Router,
    pub a: World,
    pub b: World,
    sessions: HashMap<Who, String>,
    tokens: HashMap<Role, String>,
}

const STAFF: [(Role, &str); 4] = [
    (Role::MarketplaceManager, "manager"),
    (Role::SalesSupport, "sales"),
    (Role::CustomerSupport, "support"),
    (Role::Reseller, "reseller"),
];

impl App {
    pub async fn start(url: &str) -> App {
        App::start_with_files(url, &ferry_storage::FileStorage::Database).await
    }

    /// The same world, with uploaded files kept where `files` says.
    pub async fn start_with_files(url: &str, files: &ferry_storage::FileStorage) -> App {
        ferry_integrations::install_tls();
        let store = ferry_storage::connect_with_files(url, files)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let hash = hash_password(PASSWORD).expect("hash");
        let a = world(&store, "alpha").await;
        let b = world(&store, "beta").await;

        let mut sessions = HashMap::new();
        let mut subjects = Vec::new();
        let admin = store
            .create_platform_admin(&email("root@ferry.example"), &hash)
            .await
            .expect("admin");
        subjects.push((Who::PlatformAdmin, Subject::PlatformAdmin { id: admin }));
        for (role, name) in STAFF {
            let user = NewUser {
                status: UserStatus::Active,
                ..NewUser::with_email(email(&format!("{name}@alpha.example")), Origin::Manual)
            };
            let id = store
                .create_staff(a.id, &user, &hash, role)
                .await
                .expect("staff");
            if role == Role::Reseller {
                // The reseller works for Acme, whose datasets they see.
                store
                    .set_membership(
                        a.id,
                        UserId(id),
                        CompanyId(a.company),
                        CompanyRoles::default(),
                    )
                    .await
                    .expect("reseller company");
            }
            subjects.push((
                Who::Staff(role),
                Subject::User {
                    id,
                    marketplace_id: a.id,
                },
            ));
        }
        let member = NewUser {
            status: UserStatus::Active,
            ..NewUser::with_email(email("member@alpha.example"), Origin::Manual)
        };
        let member = store.create_user(a.id, &member).await.expect("member");
        store
            .set_password(a.id, member, Some(&hash))
            .await
            .expect("password");
        store
            .set_membership(
                a.id,
                UserId(member),
                CompanyId(a.company),
                CompanyRoles::default(),
            )
            .await
            .expect("membership");
        subjects.push((
            Who::CompanyUser,
            Subject::User {
                id: member,
                marketplace_id: a.id,
            },
        ));
        let expires = ferry_storage::now().plus_millis(3_600_000);
        for (who, subject) in subjects {
            let session = format!("session-{who:?}");
            store
                .create_session(&secret_hash(&session), subject, expires)
                .await
                .expect("session");
            sessions.insert(who, session);
        }
        let mut tokens = HashMap::new();
        for (role, _) in STAFF {
            let (token, hash) = new_api_token();
            store
                .create_api_token(a.id, role.as_str(), role, &hash)
                .await
                .expect("token");
            tokens.insert(role, token);
        }
        let router = ferry_server::router(state(store.clone(), sealer()));
        App {
            store,
            router,
            a,
            b,
            sessions,
            tokens,
        }
    }

    /// Serves the app on a free loopback port and returns its address.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    /// A template path or body with the world's values: `{m}`, `{company}`, `{user}`,
    /// `{token}`, and `{n}` (a number unique to the request).
    pub fn fill(&self, template: &str, slug: &str, ids: &World, n: usize) -> String {
        template
            .replace("{m}", slug)
            .replace("{company}", &ids.company.to_string())
            .replace("{user}", &ids.user.to_string())
            .replace("{token}", &ids.token.to_string())
            .replace("{instance}", &ids.instance.to_string())
            .replace("{dataset}", &ids.dataset.to_string())
            .replace("{product}", &ids.product.to_string())
            .replace("{tenant_reseller}", &ids.tenant_reseller.to_string())
            .replace("{import}", &ids.import.to_string())
            .replace("{edition}", &ids.edition.to_string())
            .replace("{pending_tenant}", &ids.pending_tenant.to_string())
            .replace("{n}", &n.to_string())
    }

    /// A page request as a browser of `who` sends it, with the CSRF token.
    pub async fn page(&self, who: Who, method: &str, path: &str, body: &str) -> StatusCode {
        self.page_raw(who, method, path, body, Some(CSRF)).await.0
    }

    /// A page request; `csrf` is added to the form when given (the cookie is always sent).
    pub async fn page_raw(
        &self,
        who: Who,
        method: &str,
        path: &str,
        body: &str,
        csrf: Option<&str>,
    ) -> (StatusCode, String) {
        let response = self.page_response(who, method, path, body, csrf).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The cookies `who`'s browser sends: the CSRF cookie, and the session once signed in.
    fn cookies_of(&self, who: Who) -> String {
        match self.sessions.get(&who) {
            Some(session) => format!("ferry_csrf={CSRF}; ferry_session={session}"),
            None => format!("ferry_csrf={CSRF}"),
        }
    }

    /// The token `who`'s forms carry: `CSRF` stands for the right one (derived from the
    /// session for someone signed in); any other is sent as it is.
    pub fn csrf_of(&self, who: Who, token: &str) -> String {
        match self.sessions.get(&who) {
            Some(session) if token == CSRF => ferry_server::csrf_token_of_session(session),
            _ => token.to_owned(),
        }
    }

    /// A page request's whole response, headers and all.
    pub async fn page_response(
        &self,
        who: Who,
        method: &str,
        path: &str,
        body: &str,
        csrf: Option<&str>,
    ) -> Response {
        let token = csrf.map(|t| self.csrf_of(who, t));
        self.send_form(who, method, path, body, token.as_deref(), &[])
            .await
    }

    /// A form sent as it is: `token` as the form's `csrf` field, with more headers.
    pub async fn send_form(
        &self,
        who: Who,
        method: &str,
        path: &str,
        body: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let cookie = self.cookies_of(who);
        let body = match (method, token) {
            ("GET", _) | (_, None) => body.to_owned(),
            (_, Some(token)) if body.is_empty() => format!("csrf={token}"),
            (_, Some(token)) => format!("{body}&csrf={token}"),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.router
            .clone()
            .oneshot(request.body(Body::from(body)).expect("request"))
            .await
            .expect("response")
    }

    /// An API request with the token of `role` in marketplace A (or none).
    pub async fn api(
        &self,
        role: Option<Role>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let token = role.map(|role| self.tokens[&role].as_str());
        json_call(&self.router, token, method, path, body).await
    }

    /// A tenant of marketplace A with a Marketplace Manager token, served by a second server on
    /// the same database (as another process would be).
    pub async fn child(&self, kind: MarketplaceKind, slug: &str) -> Tenant {
        let marketplace = self
            .store
            .create_marketplace(&NewMarketplace {
                slug: Slug::parse(slug).expect("slug"),
                name: slug.to_owned(),
                kind,
                parent_id: Some(self.a.id),
            })
            .await
            .expect("tenant");
        let (token, hash) = new_api_token();
        self.store
            .create_api_token(marketplace.id, "tenant", Role::MarketplaceManager, &hash)
            .await
            .expect("token");
        let router = ferry_server::router(state(self.store.clone(), sealer()));
        Tenant { token, router }
    }

    /// An API request to a tenant's own server with its token.
    pub async fn api_as(
        &self,
        tenant: &Tenant,
        method: &str,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        json_call(&tenant.router, Some(&tenant.token), method, path, body).await
    }

    /// Posts the sign-in form; returns the status and the session cookie set, if any.
    pub async fn sign_in(&self, email: &str, password: &str) -> (StatusCode, Option<String>) {
        let response = post_sign_in(self.router.clone(), None, email, password).await;
        let cookie = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("ferry_session="))
            .map(str::to_owned);
        (response.status(), cookie)
    }

    /// Signs in with a `next` field (URL-encoded here); returns the status and `Location`.
    pub async fn sign_in_to(&self, next: &str) -> (StatusCode, Option<String>) {
        let response = post_sign_in(
            self.router.clone(),
            None,
            "manager@alpha.example",
            &format!("{PASSWORD}&next={next}"),
        )
        .await;
        (response.status(), location_of(&response))
    }

    /// Posts all these sign-ins at once, each from its client address; returns each answer's
    /// status and `Retry-After`.
    pub async fn sign_ins_at_once(
        &self,
        attempts: &[(IpAddr, &str, &str)],
    ) -> Vec<(StatusCode, Option<u64>)> {
        let mut requests = tokio::task::JoinSet::new();
        for (client, email, password) in attempts {
            let router = self.router.clone();
            let (client, email, password) = (*client, email.to_string(), password.to_string());
            requests.spawn(async move {
                let response = post_sign_in(router, Some(client), &email, &password).await;
                let retry_after = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                (response.status(), retry_after)
            });
        }
        requests.join_all().await
    }

    pub async fn companies(&self, world: &World) -> i64 {
        self.store.count_companies(world.id).await.expect("count")
    }

    pub async fn outbox(&self, world: &World) -> Vec<OutboxEmail> {
        self.store
            .outbox(Some(world.id), 100)
            .await
            .expect("outbox")
    }

    pub async fn user(&self, world: &World, address: &str) -> User {
        self.store
            .user_by_email(world.id, &email(address))
            .await
            .expect("get")
            .expect("user")
    }

    pub async fn add_member(&self, world: &World, user: i64, company: i64) {
        let roles = CompanyRoles {
            company_admin: true,
            ..CompanyRoles::default()
        };
        self.store
            .set_membership(world.id, UserId(user), CompanyId(company), roles)
            .await
            .expect("membership");
    }

    /// A job of marketplace B.
    pub async fn foreign_job(&self) -> i64 {
        self.job_of(&self.b).await
    }

    /// A probe job queued in a marketplace.
    pub async fn job_of(&self, world: &World) -> i64 {
        let job = NewJob {
            marketplace_id: Some(world.id),
            kind: "probe".into(),
            payload: serde_json::json!({ "steps": 1 }),
            max_attempts: 1,
            run_at: None,
        };
        self.store.enqueue_job(&job).await.expect("job")
    }
}

impl App {
    /// A multipart upload to the API: `(part, file name, content)`, text fields without a name.
    pub async fn upload(
        &self,
        role: Role,
        path: &str,
        parts: &[(&str, Option<&str>, &str)],
    ) -> (StatusCode, Value) {
        let (request, body) = multipart(path, parts);
        let request = request.header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.tokens[&role]),
        );
        let (status, bytes) = self.send(request, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A multipart form sent from a page by `who`, with the CSRF token in the address as the
    /// pages' upload forms send it. Returns the status and the page or redirect target.
    pub async fn page_upload(
        &self,
        who: Who,
        path: &str,
        parts: &[(&str, Option<&str>, &str)],
    ) -> (StatusCode, String) {
        // The token is the form's first field, as the upload forms send it.
        let token = self.csrf_of(who, CSRF);
        let mut parts = parts.to_vec();
        parts.insert(0, ("csrf", None, token.as_str()));
        self.send_upload(who, path, &parts).await
    }

    /// An upload with no token field.
    pub async fn upload_without_token(
        &self,
        who: Who,
        path: &str,
        parts: &[(&str, Option<&str>, &str)],
    ) -> StatusCode {
        self.send_upload(who, path, parts).await.0
    }

    async fn send_upload(
        &self,
        who: Who,
        path: &str,
        parts: &[(&str, Option<&str>, &str)],
    ) -> (StatusCode, String) {
        let cookie = self.cookies_of(who);
        let (request, body) = multipart(path, parts);
        let (status, bytes) = self
            .send(request.header(header::COOKIE, cookie), body)
            .await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(
        &self,
        request: axum::http::request::Builder,
        body: String,
    ) -> (StatusCode, Vec<u8>) {
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, bytes.to_vec())
    }

    /// A GET to the API answered with text (a CSV).
    pub async fn api_text(&self, role: Role, path: &str) -> (StatusCode, String, Option<String>) {
        let request = Request::builder()
            .uri(path)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.tokens[&role]),
            )
            .body(Body::empty())
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        let disposition = response
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
            disposition,
        )
    }

    /// A worker for dataset jobs running in the background until the guard is dropped.
    pub fn dataset_worker(&self) -> WorkerGuard {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = ferry_jobs::Worker::new(
            "browser".into(),
            self.store.clone(),
            ferry_jobs::WorkerConfig {
                poll_interval: std::time::Duration::from_millis(100),
                ..ferry_jobs::WorkerConfig::default()
            },
        )
        .with_job::<ferry_datasets::ValidateDataset>(self.tenant_lookup())
        .with_job::<ferry_datasets::ActivateDataset>(())
        .with_job::<ferry_datasets::UndoDataset>(());
        tokio::spawn(async move { worker.run(stopped).await });
        WorkerGuard(stop)
    }

    /// What validation asks Partner Center through, as in Ferry's workers: the marketplace's
    /// instances.
    fn tenant_lookup(&self) -> Option<Arc<dyn ferry_datasets::TenantLookup>> {
        Some(Arc::new(ferry_tenants::InstanceLookup {
            store: self.store.clone(),
            sealer: sealer(),
            clients: ferry_tenants::Clients::default(),
        }))
    }

    /// Runs the queued dataset, Get Hierarchy, import and sync jobs until none is left, as a
    /// worker would.
    pub async fn run_dataset_jobs(&self) {
        let worker = ferry_jobs::Worker::new(
            "test".into(),
            self.store.clone(),
            ferry_jobs::WorkerConfig::default(),
        )
        .with_job::<ferry_datasets::ValidateDataset>(self.tenant_lookup())
        .with_job::<ferry_datasets::ActivateDataset>(())
        .with_job::<ferry_datasets::UndoDataset>(())
        .with_job::<ferry_tenants::GetHierarchy>(ferry_tenants::HierarchyEnv {
            sealer: sealer(),
            clients: ferry_tenants::Clients::default(),
            google: Default::default(),
        })
        .with_job::<ferry_tenants::sync::CompanySync>(ferry_tenants::HierarchyEnv {
            sealer: sealer(),
            clients: ferry_tenants::Clients::default(),
            google: Default::default(),
        })
        .with_job::<ferry_tenants::users::UserSync>(ferry_tenants::HierarchyEnv {
            sealer: sealer(),
            clients: ferry_tenants::Clients::default(),
            google: Default::default(),
        })
        .with_job::<ferry_tenants::ImportTenants>("http://ferry.test".to_owned());
        while worker.run_next().await.expect("run") {}
    }
}

/// Stops a background worker when dropped.
pub struct WorkerGuard(tokio::sync::watch::Sender<bool>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A JSON request to `router`, with a bearer token when given; the answer parsed (or null).
async fn json_call(
    router: &Router,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The key every test app seals secrets with.
pub fn sealer() -> ferry_storage::seal::Sealer {
    ferry_storage::seal::Sealer::from_hex(&"5e".repeat(32)).expect("key")
}

fn email(address: &str) -> Email {
    Email::parse(address).expect("email")
}

async fn world(store: &Arc<dyn Store>, slug: &str) -> World {
    let marketplace = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse(slug).expect("slug"),
            name: format!("{slug} marketplace"),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let m = marketplace.id;
    let company = NewCompany {
        external_id: Some("C-1".into()),
        status: CompanyStatus::Active,
        ..NewCompany::named("Acme", Origin::Manual)
    };
    let company = store.create_company(m, &company).await.expect("company");
    let pending = NewCompany {
        external_id: Some("C-2".into()),
        ..NewCompany::named("Pending Co", Origin::Manual)
    };
    let pending_company = store.create_company(m, &pending).await.expect("company");
    let user = NewUser::with_email(email("target@example.com"), Origin::Manual);
    let user = store.create_user(m, &user).await.expect("user");
    store
        .set_membership(m, UserId(user), CompanyId(company), CompanyRoles::default())
        .await
        .expect("membership");
    let (_, hash) = new_api_token();
    let token = store
        .create_api_token(m, "to revoke", Role::SalesSupport, &hash)
        .await
        .expect("token");
    let instance = store
        .create_instance(
            m,
            &NewInstance {
                name: "Unreachable".into(),
                model: "direct".into(),
                partner_tenant_id: "8d3a6f5c-1b2e-4c7d-9a0f-3e4b5c6d7e8f".into(),
                application_id: "app".into(),
                secret_encrypted: Some(sealer().seal("secret")),
                refresh_token_encrypted: None,
                mpn_id: None,
                api_base_url: "http://127.0.0.1:9".into(),
                login_base_url: "http://127.0.0.1:9".into(),
            },
        )
        .await
        .expect("instance");
    let dataset = store
        .create_dataset(&NewDataset {
            marketplace_id: m,
            kind: DatasetKind::Migration,
            name: "Seeded".into(),
            provision: false,
            review: true,
            created_by_user: None,
            created_by_company: Some(company),
            creator: "seed".into(),
        })
        .await
        .expect("dataset");
    store
        .set_dataset_state(dataset.key(), DatasetState::Validated, None)
        .await
        .expect("validated");
    let product = store
        .create_product(
            m,
            &ferry_domain::NewProduct {
                name: "Backup".into(),
                vendor: "Fabrikam".into(),
            },
        )
        .await
        .expect("product");
    let tenant_reseller = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse(&format!("{slug}-store")).expect("slug"),
            name: format!("{slug} storefront"),
            kind: MarketplaceKind::SimpleTenant,
            parent_id: Some(m),
        })
        .await
        .expect("simple tenant")
        .id;
    let import = seeded_import(store, m, instance).await;
    let edition = store
        .create_edition(
            m,
            &ferry_domain::NewEdition {
                product_id: product,
                code: "STD".into(),
                name: "Standard".into(),
                pricing_plan_id: format!("{slug}-std"),
                channel_sku: None,
                pricing_unit: ferry_domain::PricingUnit::User,
                included_units: 0,
                billing_cycles: Vec::new(),
                terms: Vec::new(),
                connector: ferry_domain::Connector::Microsoft,
                offer_ids: Vec::new(),
                active: true,
            },
        )
        .await
        .expect("edition");
    let pending_tenant = seeded_pending_tenant(store, m, instance, company).await;
    World {
        product,
        tenant_reseller,
        import,
        edition,
        pending_tenant,
        id: m,
        slug: slug.to_owned(),
        company,
        pending_company,
        user,
        token,
        instance,
        dataset: dataset.id,
    }
}

/// An import run of one audited tenant, as if Get Hierarchy had listed it.
async fn seeded_import(store: &Arc<dyn Store>, m: i64, instance: i64) -> i64 {
    let audit = ferry_storage::AuditGeneration::new(m, instance);
    let tenant = ferry_storage::TenantAudit {
        tenant_id: "0f4c2b7e-1d2a-4f7e-9a51-7b4e1c0d2e3f".into(),
        name: "Seeded tenant".into(),
        domain: None,
        reseller_tenant_id: None,
        tenant_reseller_id: None,
        status: ferry_domain::TenantStatus::NotImported,
        partner_center_subscriptions: 0,
        marketplace_subscriptions: 0,
        related: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        not_importable: Vec::new(),
        possible: Vec::new(),
        audited_at: 1,
    };
    store
        .stage_tenant_audits(&audit, &[tenant])
        .await
        .expect("audit");
    store.publish_tenant_audits(&audit).await.expect("publish");
    let start = store
        .start_import(&ferry_storage::NewImport {
            marketplace_id: m,
            instance_id: instance,
            snapshot: 0,
            selection: &ferry_storage::Selection::NotImported,
            started_by: "seed",
            responsible_user_id: None,
            invite_admins: false,
        })
        .await
        .expect("import");
    start.run.expect("a run").id
}

/// The seeded import's tenant waiting in Pending Companies, with `company` suggested.
async fn seeded_pending_tenant(store: &Arc<dyn Store>, m: i64, instance: i64, company: i64) -> i64 {
    let tenant = ferry_storage::NewPending {
        tenant_id: "0f4c2b7e-1d2a-4f7e-9a51-7b4e1c0d2e3f".into(),
        name: "Seeded tenant".into(),
        domain: Some("seeded.onmicrosoft.com".into()),
        country: Some("US".into()),
        contact_name: Some("Pat Doe".into()),
        contact_email: Some("pat@seeded.example".into()),
        suggestions: vec![ferry_storage::PossibleMatch {
            id: company,
            name: "Seeded company".into(),
            score: 60,
            reasons: vec!["the same name".into()],
        }],
    };
    store
        .queue_pending(m, instance, 0, &[tenant])
        .await
        .expect("pending");
    store
        .pending_companies(
            m,
            &ferry_storage::PendingQuery {
                limit: 1,
                ..ferry_storage::PendingQuery::default()
            },
        )
        .await
        .expect("queue")[0]
        .id
}

/// Compares `content` with the committed snapshot `tests/snapshots/NAME`; with
/// `FERRY_UPDATE_SNAPSHOTS=1` writes it instead.
pub fn check_snapshot(name: &str, content: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var("FERRY_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, content).expect("write snapshot");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run the test with FERRY_UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert!(
        committed == content,
        "{} changed. If the change is intended, run the test with FERRY_UPDATE_SNAPSHOTS=1 and \
         review the difference before committing it.",
        path.display()
    );
}

/// A multipart POST to `path`: `(part, file name, content)`, text fields without a file name.
fn multipart(
    path: &str,
    parts: &[(&str, Option<&str>, &str)],
) -> (axum::http::request::Builder, String) {
    const BOUNDARY: &str = "ferry-test-boundary";
    let mut body = String::new();
    for (name, file_name, content) in parts {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\""
        ));
        if let Some(file_name) = file_name {
            body.push_str(&format!(
                "; filename=\"{file_name}\"\r\nContent-Type: text/csv"
            ));
        }
        body.push_str(&format!("\r\n\r\n{content}\r\n"));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    let request = Request::builder().method("POST").uri(path).header(
        header::CONTENT_TYPE,
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    (request, body)
}

/// Posts the sign-in form, from `client` as the server sees peers (none: a peer it cannot tell).
async fn post_sign_in(
    router: Router,
    client: Option<IpAddr>,
    email: &str,
    password: &str,
) -> Response {
    let body = format!(
        "email={}&password={}&csrf={CSRF}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    let mut request = Request::post("/sign-in")
        .header(header::COOKIE, format!("ferry_csrf={CSRF}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    if let Some(ip) = client {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
    }
    router.oneshot(request).await.expect("response")
}

/// The server's state in tests: Partner Center instances may point at the emulators here.
fn state(store: Arc<dyn Store>, sealer: ferry_storage::seal::Sealer) -> AppState {
    AppState {
        partner_center_local: true,
        ..AppState::new(store, "http://ferry.test".into(), false, sealer)
    }
}

/// Where a redirect sends the browser.
pub fn location_of(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
