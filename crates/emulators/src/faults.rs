//! What can go wrong on purpose: latency, throttling with `Retry-After`, server errors, a
//! byte-order mark on bodies; and the request counters tests read to judge a client.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// The faults an emulator injects; all off by default. They can be changed while it runs
/// (`POST /_admin/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every answer.
    pub latency_ms: u64,
    /// A random extra of up to this much.
    pub jitter_ms: u64,
    /// Requests a minute the partner may make before answers turn to 429.
    pub throttle_per_minute: Option<u32>,
    /// Requests a minute for one partner+customer pair.
    pub customer_throttle_per_minute: Option<u32>,
    /// The share of requests (0 to 1) answered with a 500 or 503.
    pub fault_5xx_rate: f64,
    /// Start JSON bodies with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Give `next` links without the `/v1` prefix.
    pub next_links_without_v1: bool,
    /// Send enum values in other casings (`Active`, `Monthly`) than the usual snake case.
    pub mixed_case_enums: bool,
}

/// Token buckets, one per throttling key. A bucket holds one second's worth of requests, so
/// the rate a client sees is the configured one, not a burst of a minute's worth.
#[derive(Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Throttle {
    /// Takes one request from `key`'s bucket, or says how many seconds until one is free.
    pub fn take(&self, key: &str, per_minute: u32) -> Result<(), u64> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let capacity = rate.max(1.0);
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// What the emulator was asked, for tests to judge how a client behaved.
#[derive(Default)]
pub struct Counters {
    total: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    detail: Mutex<Detail>,
}

#[derive(Default)]
struct Detail {
    per_route: BTreeMap<String, u64>,
    /// 429s answered in a row, per throttling key, and the longest such run.
    consecutive_429: HashMap<String, u64>,
    max_consecutive_429: u64,
    /// 429s answered in a row to one logical call (one `MS-RequestId`, kept on retries).
    call_429: HashMap<String, u64>,
    max_call_429: u64,
}

/// The counters as `GET /_admin/stats` shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub per_route: BTreeMap<String, u64>,
    /// The most 429 answers any one throttling key got in a row, across all calls.
    pub max_consecutive_429: u64,
    /// The most 429 answers one call (one `MS-RequestId`) got in a row, over its retries.
    pub max_consecutive_429_per_call: u64,
}

impl Counters {
    pub fn request(&self, route: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut detail = self
            .detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *detail.per_route.entry(route.to_owned()).or_default() += 1;
    }

    pub fn passed(&self, key: &str, call: Option<&str>) {
        let mut detail = self
            .detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        detail.consecutive_429.remove(key);
        if let Some(call) = call {
            detail.call_429.remove(call);
        }
    }

    pub fn throttled(&self, key: &str, call: Option<&str>) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let mut detail = self
            .detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let run = detail.consecutive_429.entry(key.to_owned()).or_default();
        *run += 1;
        let run = *run;
        detail.max_consecutive_429 = detail.max_consecutive_429.max(run);
        if let Some(call) = call {
            let run = detail.call_429.entry(call.to_owned()).or_default();
            *run += 1;
            let run = *run;
            detail.max_call_429 = detail.max_call_429.max(run);
        }
    }

    pub fn server_error(&self) {
        self.server_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        let detail = self
            .detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Stats {
            total: self.total.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            per_route: detail.per_route.clone(),
            max_consecutive_429: detail.max_consecutive_429,
            max_consecutive_429_per_call: detail.max_call_429,
        }
    }

    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.throttled.store(0, Ordering::Relaxed);
        self.server_errors.store(0, Ordering::Relaxed);
        *self
            .detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Detail::default();
    }
}

/// Random draws for faults: a fresh stream per request, from the emulator's seed.
pub struct Dice {
    seed: u64,
    next: AtomicU64,
}

impl Dice {
    pub fn new(seed: u64) -> Self {
        Dice {
            seed,
            next: AtomicU64::new(0),
        }
    }

    pub fn roll(&self) -> Rng {
        Rng::derive(
            self.seed ^ 0x5EED,
            self.next.fetch_add(1, Ordering::Relaxed),
        )
    }
}

/// How one service answers when it fails on purpose.
pub trait Service {
    /// The throttled answer, carrying `Retry-After`.
    fn throttled(retry_after: u64) -> Response;
    /// A server error.
    fn server_error(rng: &mut Rng) -> Response;
    /// The partner+customer (or customer) a request is about, for per-customer throttling.
    fn customer_key(request: &Request) -> Option<String>;
    /// The name of a request's route, ids left out, for the counters.
    fn route_name(request: &Request) -> String;
}

/// Everything an emulator needs to fail on purpose and to count what it was asked.
pub struct Injector {
    faults: RwLock<Faults>,
    throttle: Throttle,
    pub counters: Counters,
    pub dice: Dice,
    /// The throttling key of the whole account (the partner tenant, the Google customer).
    account: String,
}

impl Injector {
    pub fn new(faults: Faults, seed: u64, account: String) -> Self {
        Injector {
            faults: RwLock::new(faults),
            throttle: Throttle::default(),
            counters: Counters::default(),
            dice: Dice::new(seed),
            account,
        }
    }

    pub fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self
            .faults
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
    }

    /// Waits the configured latency.
    pub async fn wait(&self, rng: &mut Rng) {
        if let Some(delay) = delay(&self.faults(), rng) {
            tokio::time::sleep(delay).await;
        }
    }

    /// Around one API call: count it, wait, throttle, fail on purpose, or pass it on; then
    /// prepend a byte-order mark to JSON when asked.
    pub async fn around<S: Service>(&self, request: Request, next: Next) -> Response {
        let faults = self.faults();
        let mut rng = self.dice.roll();
        self.counters.request(&S::route_name(&request));
        let call = request
            .headers()
            .get("ms-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.wait(&mut rng).await;
        let mut keys = Vec::new();
        if let Some(limit) = faults.throttle_per_minute {
            keys.push((self.account.clone(), limit));
        }
        if let (Some(limit), Some(customer)) = (
            faults.customer_throttle_per_minute,
            S::customer_key(&request),
        ) {
            keys.push((format!("{}/{customer}", self.account), limit));
        }
        for (key, limit) in &keys {
            if let Err(retry_after) = self.throttle.take(key, *limit) {
                self.counters.throttled(key, call.as_deref());
                return S::throttled(retry_after);
            }
        }
        for (key, _) in &keys {
            self.counters.passed(key, call.as_deref());
        }
        if faults.fault_5xx_rate > 0.0 && rng.chance(faults.fault_5xx_rate) {
            self.counters.server_error();
            return S::server_error(&mut rng);
        }
        let response = next.run(request).await;
        if faults.bom && is_json(&response) {
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from(with_bom(&bytes)));
        }
        response
    }
}

/// Sets `Retry-After` on a throttled answer.
pub fn retry_after(mut response: Response, seconds: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The delay `faults` add to one answer.
pub fn delay(faults: &Faults, rng: &mut Rng) -> Option<Duration> {
    let jitter = if faults.jitter_ms > 0 {
        rng.below(faults.jitter_ms + 1)
    } else {
        0
    };
    let total = faults.latency_ms + jitter;
    (total > 0).then(|| Duration::from_millis(total))
}

/// Prefixes a UTF-8 byte-order mark.
pub fn with_bom(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 3);
    out.extend_from_slice(b"\xEF\xBB\xBF");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_second_of_requests() {
        let throttle = Throttle::default();
        for _ in 0..2 {
            assert_eq!(throttle.take("p", 120), Ok(()));
        }
        assert_eq!(throttle.take("p", 120), Err(1));
        assert_eq!(throttle.take("other", 120), Ok(()), "keys are independent");
    }

    #[test]
    fn counters_keep_the_longest_run_of_429() {
        let counters = Counters::default();
        counters.throttled("a", Some("call-1"));
        counters.throttled("a", Some("call-2"));
        counters.passed("a", Some("call-2"));
        counters.throttled("a", Some("call-1"));
        let stats = counters.stats();
        assert_eq!(stats.max_consecutive_429, 2);
        assert_eq!(stats.max_consecutive_429_per_call, 2);
    }
}
