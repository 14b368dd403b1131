//! Uploads kept in an S3-compatible bucket whose server fails in the middle of one: moto's S3
//! server behind a proxy that lets the first part of an upload through and fails every later
//! one. The upload is answered with the file store's failure, no dataset remains, and the bucket
//! holds neither an object nor an unfinished upload.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_domain::Role;
use ferry_storage::testing::S3Server;

use crate::harness::App;

ferry_storage::on_both_backends!(FailingBucket::start =>
    a_file_store_failing_mid_upload_leaves_nothing,
);

/// The app, with its files in moto's bucket through a proxy that fails mid-upload.
struct FailingBucket {
    app: App,
    s3: S3Server,
    proxy: Arc<Proxy>,
}

impl FailingBucket {
    async fn start(url: &str) -> FailingBucket {
        let s3 = S3Server::start().await;
        let proxy = Arc::new(Proxy {
            upstream: s3.endpoint.clone(),
            parts: AtomicUsize::new(0),
            client: reqwest::Client::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let app = App::start_with_files(url, &s3.storage(&format!("http://{address}"))).await;
        FailingBucket { app, s3, proxy }
    }
}

/// Forwards every S3 call to moto, but answers 500 to the second part of an upload and after.
struct Proxy {
    upstream: String,
    parts: AtomicUsize,
    client: reqwest::Client,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let is_part = request.method() == Method::PUT
        && request
            .uri()
            .query()
            .is_some_and(|q| q.contains("partNumber="));
    if is_part && proxy.parts.fetch_add(1, Ordering::SeqCst) >= 1 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the disk is gone").into_response();
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the request body");
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    let answer = proxy
        .client
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("moto answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let body = answer.bytes().await.expect("moto's answer");
    response.body(Body::from(body)).expect("a response")
}

async fn a_file_store_failing_mid_upload_leaves_nothing(bucket: FailingBucket) {
    let FailingBucket { app, s3, proxy } = bucket;
    let mut users = String::from("EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\n");
    let padding = "x".repeat(150);
    let mut n = 0;
    // Three parts' worth: the second fails.
    while users.len() < 12 * 1024 * 1024 {
        users.push_str(&format!("u-{n},user{n}@alpha.example,{padding}\n"));
        n += 1;
    }
    let datasets = async || {
        app.store
            .datasets(app.a.id, None)
            .await
            .expect("datasets")
            .len()
    };
    let before = datasets().await;
    let parts = [
        ("name", None, "Spring"),
        ("users", Some("users.csv"), users.as_str()),
    ];
    let (status, answer) = app
        .upload(Role::MarketplaceManager, "/api/v1/datasets", &parts)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable", "{answer}");
    assert!(proxy.parts.load(Ordering::SeqCst) >= 2, "no part failed");
    assert_eq!(datasets().await, before, "a dataset remained");
    assert_eq!(s3.objects().await, Vec::<String>::new());
    assert_eq!(s3.unfinished_uploads().await, Vec::<String>::new());

    // The same store takes a small file once the server answers again.
    proxy.parts.store(0, Ordering::SeqCst);
    let parts = [
        ("name", None, "Autumn"),
        (
            "users",
            Some("users.csv"),
            "EXTERNAL_ID,EMAIL_ADDRESS\nu-1,dana@alpha.example\n",
        ),
    ];
    let (status, answer) = app
        .upload(Role::MarketplaceManager, "/api/v1/datasets", &parts)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(s3.objects().await.len(), 1);
}
