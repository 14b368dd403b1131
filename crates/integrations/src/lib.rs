//! Clients of the outside world, each behind a small type so the rest of Ferry can be tested
//! without the network: Partner Center ([`partner_center`]) and SMTP ([`mail`]).
//!
//! Invariant: nothing here knows Ferry's database; callers pass in what to send and store what
//! comes back (a rotated refresh token goes through [`partner_center::RefreshTokenStore`]).

pub mod mail;
pub mod partner_center;
