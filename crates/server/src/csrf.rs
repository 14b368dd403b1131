//! Cross-site request forgery: a state-changing page request must come from Ferry's own pages.
//! Two checks, both required:
//! - where the browser says the request comes from (`Sec-Fetch-Site`, else `Origin`) is this
//!   site, or nowhere (typed by the person);
//! - the form carries this visitor's token: for a signed-in visitor one derived from the session,
//!   so a token and cookie an attacker plants are worth nothing, and a new sign-in renews it;
//!   for a visitor not signed in (sign-in, reset and invitation forms), a cookie's. Uploads
//!   carry it as their first field, never in the address.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::PageError;
use crate::web::{SESSION_COOKIE, cookie, set_cookie};
use ferry_accounts::credentials::random_secret;

pub const CSRF_COOKIE: &str = "ferry_csrf";
/// The largest form the guard reads whole.
const MAX_FORM_BYTES: usize = 256 * 1024;
/// How far into an upload its first field (the token) must end.
const MAX_UPLOAD_HEAD: usize = 16 * 1024;

/// The CSRF token of this request, which every form of its page carries.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// The token of a signed-in visitor's forms, derived from the session's secret.
pub fn session_token(session: &str) -> String {
    let digest = Sha256::digest(format!("ferry-csrf\0{session}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses a state-changing page request from another site or without this visitor's token,
/// and gives a token cookie to a visitor not signed in who has none.
pub async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let session = cookie(request.headers(), SESSION_COOKIE).filter(|s| !s.is_empty());
    let anonymous = cookie(request.headers(), CSRF_COOKIE).filter(|t| well_formed(t));
    let (token, new_cookie) = match (session, anonymous) {
        (Some(session), _) => (session_token(session), false),
        (None, Some(token)) => (token.to_owned(), false),
        (None, None) => (random_secret(), true),
    };

    let mut request = request;
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        if !from_this_site(request.headers(), &state.public_url) {
            return PageError::Csrf.into_response();
        }
        let (submitted, checked) = submitted_token(request).await;
        if new_cookie || submitted.as_deref() != Some(token.as_str()) {
            return PageError::Csrf.into_response();
        }
        request = checked;
    }
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if new_cookie {
        // A year: the token protects forms, it grants nothing by itself.
        let value = set_cookie(CSRF_COOKIE, &token, 365 * 24 * 3600, state.secure_cookies);
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Whether the browser says the request comes from this site, or from nowhere (an address
/// typed or bookmarked). Clients that say nothing are left to the token.
fn from_this_site(headers: &HeaderMap, public_url: &str) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text("origin") else {
        return true;
    };
    let host = text("host").unwrap_or_default();
    origin.trim_end_matches('/') == public_url.trim_end_matches('/')
        || origin
            .split_once("://")
            .is_some_and(|(_, authority)| !host.is_empty() && authority == host)
}

/// The token the request carries (in its form, or in the first field of an upload), and the
/// request with its body whole again.
async fn submitted_token(request: Request) -> (Option<String>, Request) {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (parts, body) = request.into_parts();
    if let Some(boundary) = multipart_boundary(&content_type) {
        // Uploads stream through: read only as far as their first field.
        let mut stream = body.into_data_stream();
        let mut head = Vec::new();
        while head.len() < MAX_UPLOAD_HEAD && first_field(&head, &boundary).is_none() {
            match stream.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let token = first_field(&head, &boundary)
            .filter(|(name, _)| name == "csrf")
            .map(|(_, value)| value);
        let whole = futures_util::stream::once(async move { Ok(Bytes::from(head)) }).chain(stream);
        return (token, Request::from_parts(parts, Body::from_stream(whole)));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (None, Request::from_parts(parts, Body::empty()));
    };
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "csrf"))
        .map(|(_, v)| v);
    (token, Request::from_parts(parts, Body::from(bytes)))
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let rest = content_type.strip_prefix("multipart/form-data")?;
    rest.split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .next()
        .filter(|b| !b.is_empty())
}

/// The name and value of an upload's first field, once `head` holds all of it.
fn first_field(head: &[u8], boundary: &str) -> Option<(String, String)> {
    let text = std::str::from_utf8(head).ok().or_else(|| {
        // A file's bytes may follow; the first field's text is before them.
        let cut = head.iter().position(|b| !b.is_ascii())?;
        std::str::from_utf8(&head[..cut]).ok()
    })?;
    let rest = text.strip_prefix(&format!("--{boundary}\r\n"))?;
    let (headers, after) = rest.split_once("\r\n\r\n")?;
    let (value, _) = after.split_once(&format!("\r\n--{boundary}"))?;
    let name = headers
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("name="))
        .map(|n| n.trim_matches('"').to_owned())
        .next()?;
    Some((name, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_of_an_upload() {
        let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"users\"; filename=\"u.csv\"\r\n\r\n\xff\xfe";
        assert_eq!(
            first_field(head, "XyZ"),
            Some(("csrf".to_owned(), "abc".to_owned()))
        );
        assert_eq!(first_field(&head[..30], "XyZ"), None, "not all there yet");
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ".to_owned())
        );
    }

    #[test]
    fn requests_from_another_site_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().expect("value"));
            }
            map
        };
        let public = "https://ferry.example";
        assert!(from_this_site(
            &headers(&[("sec-fetch-site", "same-origin")]),
            public
        ));
        assert!(!from_this_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            public
        ));
        assert!(!from_this_site(
            &headers(&[("sec-fetch-site", "same-site")]),
            public
        ));
        assert!(from_this_site(
            &headers(&[("origin", "https://ferry.example")]),
            public
        ));
        assert!(from_this_site(
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ]),
            public
        ));
        assert!(!from_this_site(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "ferry.example")
            ]),
            public
        ));
        assert!(!from_this_site(&headers(&[("origin", "null")]), public));
        assert!(
            from_this_site(&headers(&[]), public),
            "no word: the token decides"
        );
    }
}
