//! Accounts: how people prove who they are and how they are let in.
//!
//! `credentials.rs` hashes passwords (Argon2id) and makes the random secrets of sessions, API
//! tokens and e-mailed links, of which only a hash is stored. `invitations.rs` sends
//! invitations and password resets through the outbox, and holds the bulk-invitation job.
//! `reminders.rs` sends registration reminders to migrated users who have not registered.
//!
//! Invariants:
//! - No HTTP: the pages, the API and the workers all call in here.
//! - A secret is shown once, to the person it is for; the store keeps its SHA-256 only.

pub mod credentials;
mod invitations;
mod reminders;

pub use invitations::{InviteError, InviteUsers, invitation_key, invite_user, send_password_reset};
pub use reminders::{SendReminders, send_due_reminders};
