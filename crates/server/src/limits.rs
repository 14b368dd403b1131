//! What requests without an account may cost. Password hashing is slow and large on purpose
//! (Argon2id, ~19 MiB each), so it runs a few at a time; sign-in and the other account forms
//! are rate-limited per client and overall. A flood degrades to refusals with `Retry-After`,
//! never to memory growth.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::error::MessagePage;
use crate::web::Chrome;

/// The limits of one server.
pub struct Limits {
    pub passwords: PasswordChecks,
    /// Posts of the account forms (sign-in, forgotten password, reset, invitation).
    pub account_forms: RateLimit,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            passwords: PasswordChecks::new(cores, cores * 16),
            account_forms: RateLimit::new(Rate::per_minute(20), Rate::per_minute(600), MAX_CLIENTS),
        }
    }
}

/// How many clients the rate limit remembers; past it, unknown clients share the overall rate.
const MAX_CLIENTS: usize = 100_000;

/// Refused for now: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub retry_after: Duration,
}

impl Busy {
    fn seconds(self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    /// A page that says so, with `status` and `Retry-After`.
    pub fn response(self, status: StatusCode) -> Response {
        let seconds = self.seconds();
        let page = MessagePage {
            chrome: Chrome::bare(),
            heading: "Too many requests",
            text: "Ferry is answering many sign-in requests just now. Wait a moment and try again.",
            link_href: "/sign-in",
            link_label: "Back to sign-in",
            reference: None,
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| page.heading.to_owned());
        (status, [(header::RETRY_AFTER, seconds)], Html(body)).into_response()
    }
}

/// Runs password hashes on a few threads of their own, with a bounded queue in front. Their
/// own threads, not the runtime's blocking pool of hundreds: each thread keeps Argon2's working
/// memory (`ferry_accounts::credentials`), so the number of threads bounds the memory.
pub struct PasswordChecks {
    queue: SyncSender<Box<dyn FnOnce() + Send>>,
}

impl PasswordChecks {
    pub fn new(threads: usize, max_waiting: usize) -> Self {
        let (queue, work) = sync_channel::<Box<dyn FnOnce() + Send>>(max_waiting);
        let work = Arc::new(Mutex::new(work));
        for n in 0..threads.max(1) {
            let work = work.clone();
            // The threads end when the queue's sender is dropped with the server.
            let spawned = std::thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || {
                    loop {
                        let next = work
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match next {
                            Ok(check) => check(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password-check thread");
            }
        }
        PasswordChecks { queue }
    }

    /// Runs `check` once a thread is free; `Busy` at once when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let busy = Busy {
            retry_after: Duration::from_secs(2),
        };
        let (done, answer) = tokio::sync::oneshot::channel();
        self.queue
            .try_send(Box::new(move || {
                let _ = done.send(check());
            }))
            .map_err(|_| busy)?;
        answer.await.map_err(|_| busy)
    }
}

/// So many events a period, with bursts of as many.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    interval: Duration,
    burst: u32,
}

impl Rate {
    pub fn per_minute(n: u32) -> Self {
        Rate {
            interval: Duration::from_secs(60) / n.max(1),
            burst: n.max(1),
        }
    }

    /// The generic cell rate algorithm: `next` is when the bucket is empty again. Admits at
    /// `now` or says how long to wait.
    fn admit(self, next: &mut Instant, now: Instant) -> Result<(), Busy> {
        let start = (*next).max(now);
        let tolerance = self.interval * (self.burst - 1);
        let ahead = start - now;
        if ahead > tolerance {
            return Err(Busy {
                retry_after: ahead - tolerance,
            });
        }
        *next = start + self.interval;
        Ok(())
    }
}

/// A rate per client (by IP address) and one for everyone together.
pub struct RateLimit {
    per_client: Rate,
    overall: Rate,
    max_clients: usize,
    state: Mutex<RateState>,
}

struct RateState {
    overall: Instant,
    clients: HashMap<IpAddr, Instant>,
}

impl RateLimit {
    pub fn new(per_client: Rate, overall: Rate, max_clients: usize) -> Self {
        RateLimit {
            per_client,
            overall,
            max_clients,
            state: Mutex::new(RateState {
                overall: Instant::now(),
                clients: HashMap::new(),
            }),
        }
    }

    pub fn admit(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Busy> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let RateState { overall, clients } = &mut *state;
        if let Some(ip) = client {
            if clients.len() >= self.max_clients && !clients.contains_key(&ip) {
                clients.retain(|_, next| *next > now);
            }
            if clients.len() < self.max_clients || clients.contains_key(&ip) {
                let mut next = clients.get(&ip).copied().unwrap_or(now);
                self.per_client.admit(&mut next, now)?;
                clients.insert(ip, next);
            }
        }
        self.overall.admit(overall, now)
    }
}

/// Middleware for the account forms: posts beyond the rate are refused before their body is
/// read.
pub async fn account_forms(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        if let Err(busy) = state.limits.account_forms.admit(client, Instant::now()) {
            return busy.response(StatusCode::TOO_MANY_REQUESTS);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limit = RateLimit::new(Rate::per_minute(3), Rate::per_minute(100), 10);
        let (a, b) = (Some([10, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.admit(a, now), Ok(()));
        }
        let refused = limit.admit(a, now).expect_err("a fourth at once");
        assert_eq!(refused.retry_after, Duration::from_secs(20));
        assert_eq!(
            limit.admit(b, now),
            Ok(()),
            "another client is not affected"
        );
        assert_eq!(limit.admit(a, now + Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn everyone_together_has_a_rate_too() {
        let limit = RateLimit::new(Rate::per_minute(100), Rate::per_minute(5), 10);
        let now = Instant::now();
        for n in 0..5u8 {
            assert_eq!(limit.admit(Some([10, 0, 0, n].into()), now), Ok(()));
        }
        assert!(limit.admit(Some([10, 0, 0, 9].into()), now).is_err());
        assert!(limit.admit(None, now).is_err());
    }

    #[test]
    fn remembered_clients_are_bounded() {
        let limit = RateLimit::new(Rate::per_minute(1), Rate::per_minute(1000), 4);
        let now = Instant::now();
        for n in 0..100u8 {
            let _ = limit.admit(Some([10, 0, 1, n].into()), now);
        }
        let clients = limit.state.lock().expect("lock").clients.len();
        assert!(clients <= 4, "{clients} clients remembered");
    }

    #[tokio::test]
    async fn password_checks_queue_a_bounded_number() {
        let checks = Arc::new(PasswordChecks::new(1, 2));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let running = {
            let checks = checks.clone();
            tokio::spawn(async move { checks.run(move || wait.recv().is_ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let checks = checks.clone();
                tokio::spawn(async move { checks.run(|| true).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            checks.run(|| true).await.is_err(),
            "a third waiting is refused"
        );
        release.send(()).expect("release");
        assert_eq!(running.await.expect("join"), Ok(true));
        for q in queued {
            assert_eq!(q.await.expect("join"), Ok(true));
        }
    }
}
