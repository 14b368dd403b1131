//! Clients of the outside world, each behind a small type so the rest of Ferry can be tested
//! without the network: Partner Center ([`partner_center`]), the Google Directory
//! ([`google`]), SMTP ([`mail`]) and webhooks ([`webhook`]).
//!
//! Invariant: nothing here knows Ferry's database; callers pass in what to send and store what
//! comes back (a rotated refresh token goes through [`partner_center::RefreshTokenStore`]).

pub mod google;
pub mod mail;
pub mod partner_center;
pub mod webhook;

/// Makes ring the TLS provider of every HTTP client in the process (Ferry builds reqwest without
/// one of its own). Installing it again is harmless.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether credentials for `service` may be sent to `url`: its `hosts` over HTTPS and, when
/// `local` is allowed, this machine (the emulators of tests and the demo).
pub fn check_service_url(
    url: &str,
    local: bool,
    service: &str,
    hosts: &[&str],
) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("'{url}' is not an address"))?;
    let host = parsed.host_str().unwrap_or_default();
    let on_this_machine = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if on_this_machine {
        return if local {
            Ok(())
        } else {
            Err(format!(
                "'{url}' is on this machine, which is for emulators: an operator allows it with \
                 partner_center_local = true (FERRY_PARTNER_CENTER_LOCAL)"
            ))
        };
    }
    if parsed.scheme() == "https" && hosts.contains(&host) && parsed.port().is_none() {
        Ok(())
    } else {
        Err(format!(
            "'{url}' is not a {service} address: credentials go only to its services over \
             HTTPS ({})",
            hosts.join(", ")
        ))
    }
}

/// Waits before trying a failed call again: exponential from 200 ms, with jitter, at most 10 s.
async fn backoff(attempt: u32) {
    let base = 200.0 * 2f64.powi(i32::try_from(attempt.min(6)).unwrap_or(6) - 1);
    let jitter = 0.5 + f64::from(rand::random::<u16>()) / f64::from(u16::MAX);
    tokio::time::sleep(std::time::Duration::from_millis(
        (base * jitter).min(10_000.0) as u64,
    ))
    .await;
}

/// An answer as the clients read it: its status, its `Retry-After` in seconds, its body.
async fn read_answer(
    request: reqwest::RequestBuilder,
) -> Result<(u16, Option<u64>, Vec<u8>), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    Ok((status, retry_after, response.bytes().await?.to_vec()))
}
