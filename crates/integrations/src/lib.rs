//! Clients of the outside world, each behind a small type so the rest of Ferry can be tested
//! without the network: Partner Center ([`partner_center`]) and SMTP ([`mail`]).
//!
//! Invariant: nothing here knows Ferry's database; callers pass in what to send and store what
//! comes back (a rotated refresh token goes through [`partner_center::RefreshTokenStore`]).

pub mod mail;
pub mod partner_center;
pub mod webhook;

/// Makes ring the TLS provider of every HTTP client in the process (Ferry builds reqwest without
/// one of its own). Installing it again is harmless.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
