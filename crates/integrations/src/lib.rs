//! Clients of the outside world, each behind a small type so the rest of Ferry can be tested
//! without the network.
//!
//! Invariant: nothing here knows Ferry's database; callers pass in what to send and store what
//! comes back.

pub mod mail;
