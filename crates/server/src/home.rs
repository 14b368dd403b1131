//! The page at `/`: what is running here.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

async fn home(State(state): State<AppState>) -> Html<String> {
    let backend = state.store.backend().name();
    let version = env!("CARGO_PKG_VERSION");
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; color: #1f2933; background: #f5f7fa; margin: 0; }}
  main {{ max-width: 36rem; margin: 12vh auto; padding: 2rem; background: #fff;
         border: 1px solid #e4e7eb; border-radius: 8px; }}
  h1 {{ margin: 0 0 .5rem; font-size: 1.5rem; }}
  dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }}
  dt {{ color: #616e7c; }}
  a {{ color: #0b69a3; }}
</style>
</head>
<body>
<main>
  <h1>Ferry</h1>
  <p>Ferry {version} is running.</p>
  <dl>
    <dt>Database</dt><dd>{backend}</dd>
    <dt>Health</dt><dd><a href="/healthz">/healthz</a></dd>
    <dt>Readiness</dt><dd><a href="/readyz">/readyz</a></dd>
  </dl>
</main>
</body>
</html>
"#
    ))
}
