//! Being a good citizen under throttling (spec §7): per key — the partner, and the
//! partner+customer pair — a concurrency window that halves on 429 and grows back, a pace that
//! starts modest and grows by 30% each second until the first 429, then steps down and probes
//! slowly, and a pause for as long as `Retry-After` says. The pace grows with time, not with
//! successes, and only while it holds requests back, so when the service's bucket runs dry the
//! pace is close to what it allows and few requests in flight find it empty: a key is rarely
//! answered 429 twice in a row. A 429 does not say which key's limit it met; it is put down to
//! the customer only when that customer's own traffic could explain it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most requests in flight on one key.
const MAX_WINDOW: f64 = 16.0;
/// The pace of a key the service has not throttled yet, in requests a second.
const INITIAL_PACE: f64 = 100.0;
/// How far behind its pace a key may fall and catch up.
const TIMER_SLACK: Duration = Duration::from_millis(5);
/// How much the pace of a key grows a second before its first 429, and after.
const SLOW_START_GROWTH: f64 = 1.3;
const LEARNED_GROWTH: f64 = 1.01;

#[derive(Debug)]
struct KeyState {
    /// Requests allowed in flight at once (fractional: grows by a little per success).
    window: f64,
    in_flight: usize,
    /// Requests a second. It starts low and grows quickly (slow start) until the service
    /// first throttles the key; from then on it follows what the service allows.
    pace: f64,
    /// Whether the service has throttled this key yet.
    learned: bool,
    /// When the next request may leave, by the pace.
    next_slot: Instant,
    /// No request before this (`Retry-After`).
    paused_until: Instant,
    /// When recent successes happened, to estimate the rate the service allows.
    recent: VecDeque<Instant>,
    /// How long a request takes, smoothed.
    latency: Duration,
    /// When the pace last grew.
    grown: Instant,
    /// Whether a request waited for the pace since then: only a pace that holds requests back
    /// grows, so it never runs far ahead of what is really sent.
    paced: bool,
}

impl KeyState {
    /// Requests allowed in flight now. Once the service has throttled the key, no more than the
    /// pace needs over one request's time (plus one): requests already on their way when the
    /// limit is reached are the ones answered 429 together.
    fn allowed_in_flight(&self) -> usize {
        let window = self.window.floor().max(1.0);
        let needed = (self.pace * self.latency.as_secs_f64()).ceil() + 1.0;
        window.min(needed) as usize
    }
}

impl KeyState {
    /// Successes in the last second.
    fn recent_rate(&self, now: Instant) -> f64 {
        self.recent
            .iter()
            .filter(|t| now.duration_since(**t) <= Duration::from_secs(1))
            .count() as f64
    }

    fn new(now: Instant) -> Self {
        KeyState {
            window: 4.0,
            in_flight: 0,
            pace: INITIAL_PACE,
            learned: false,
            next_slot: now,
            paused_until: now,
            recent: VecDeque::new(),
            latency: Duration::from_millis(100),
            grown: now,
            paced: false,
        }
    }
}

/// The throttling state of every key a client uses.
#[derive(Debug, Default)]
pub struct Governor {
    keys: Mutex<HashMap<String, KeyState>>,
}

/// A permission to send one request on some keys; give it back with the outcome.
#[derive(Debug)]
pub struct Permit {
    keys: Vec<String>,
    sent: Instant,
}

/// How a request ended, for the governor to learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// 429, with the `Retry-After` the service gave.
    Throttled(Duration),
    /// Another failure: neither a sign to slow down nor to speed up.
    Other,
}

impl Governor {
    /// Waits until every key allows one more request, and takes it.
    pub async fn acquire(&self, keys: &[String]) -> Permit {
        loop {
            let wait = {
                let mut states = self
                    .keys
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let mut wait = Duration::ZERO;
                for key in keys {
                    let state = states
                        .entry(key.clone())
                        .or_insert_with(|| KeyState::new(now));
                    let ready = state.paused_until.max(state.next_slot);
                    if ready > now {
                        state.paced |= state.next_slot > now;
                        wait = wait.max(ready - now);
                    } else if state.in_flight >= state.allowed_in_flight() {
                        // Wait for a request in flight to come back.
                        wait = wait.max(Duration::from_millis(2));
                    }
                }
                if wait.is_zero() {
                    for key in keys {
                        if let Some(state) = states.get_mut(key) {
                            state.in_flight += 1;
                            // A request that woke late does not push the next one later:
                            // timers are coarser than the gaps at a high pace.
                            let behind = now.checked_sub(TIMER_SLACK).unwrap_or(now);
                            state.next_slot = state.next_slot.max(behind)
                                + Duration::from_secs_f64(1.0 / state.pace);
                        }
                    }
                    return Permit {
                        keys: keys.to_vec(),
                        sent: now,
                    };
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Gives a permit back and learns from how its request ended.
    pub fn release(&self, permit: Permit, outcome: Outcome) {
        let mut states = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let blamed = match outcome {
            Outcome::Throttled(_) => blame(&states, &permit.keys, now),
            _ => 0,
        };
        for (position, key) in permit.keys.iter().enumerate() {
            let Some(state) = states.get_mut(key) else {
                continue;
            };
            state.in_flight = state.in_flight.saturating_sub(1);
            let took = now.duration_since(permit.sent);
            state.latency = (state.latency * 7 + took) / 8;
            match outcome {
                Outcome::Ok => {
                    state.window = (state.window + 1.0 / state.window).min(MAX_WINDOW);
                    state.recent.push_back(now);
                    while state
                        .recent
                        .front()
                        .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(2))
                    {
                        state.recent.pop_front();
                    }
                    // Grow with time, not with successes, so the pace is barely above what the
                    // service allows when its bucket runs dry: then only a request or two in
                    // flight finds it empty. Once throttled, probe slowly in case it allows more.
                    let per_second = if state.learned {
                        LEARNED_GROWTH
                    } else {
                        SLOW_START_GROWTH
                    };
                    if state.paced {
                        let elapsed = now.duration_since(state.grown).as_secs_f64();
                        let sent = state.recent_rate(now);
                        let grown = state.pace * per_second.powf(elapsed);
                        state.pace = grown.min((sent * 1.5).max(state.pace));
                        state.paced = false;
                    }
                    state.grown = now;
                }
                Outcome::Throttled(_) if position < blamed || state.paused_until > now => {
                    // Not this key's doing, or a request sent before the key was paused:
                    // only the request comes back.
                }
                Outcome::Throttled(retry_after) => {
                    state.window = (state.window / 2.0).max(1.0);
                    state.paused_until = state.paused_until.max(now + retry_after);
                    // The pace was above what the service allows: halve it the first time (slow
                    // start overshoots), then step down gently.
                    state.pace = (state.pace * if state.learned { 0.9 } else { 0.5 }).max(0.5);
                    state.learned = true;
                    // After the pause, the service's bucket is full again: start sending at
                    // once, then keep the pace.
                    state.next_slot = state.paused_until;
                    state.grown = state.paused_until;
                }
                Outcome::Other => {}
            }
        }
    }
}

/// From which position of `keys` a 429 is blamed. The answer does not say whether the partner
/// or the partner+customer limit was hit. The customer's own limit can only explain it when that
/// customer carries a good share of the partner's recent traffic; otherwise the partner is the
/// likely cause, and every key of the request slows down.
fn blame(states: &HashMap<String, KeyState>, keys: &[String], now: Instant) -> usize {
    let recent = |key: &String| states.get(key).map_or(0.0, |s| s.recent_rate(now));
    let partner = recent(&keys[0]);
    let busy_customer = keys[1..]
        .iter()
        .any(|key| recent(key) >= (partner / 4.0).max(1.0));
    usize::from(busy_customer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_429_is_blamed_on_the_customer_only_when_its_traffic_explains_it() {
        let governor = Governor::default();
        let partner = "partner".to_owned();
        let busy = vec![partner.clone(), "partner/busy".to_owned()];
        let quiet = vec![partner.clone(), "partner/quiet".to_owned()];
        for _ in 0..3 {
            let permit = governor.acquire(&busy).await;
            governor.release(permit, Outcome::Ok);
        }
        let permit = governor.acquire(&busy).await;
        governor.release(permit, Outcome::Throttled(Duration::from_secs(1)));
        {
            let states = governor.keys.lock().expect("lock");
            assert!(
                states["partner/busy"].learned,
                "the busy customer slows down"
            );
            assert!(!states["partner"].learned, "the partner carries on");
        }
        let permit = governor.acquire(&quiet).await;
        governor.release(permit, Outcome::Throttled(Duration::from_secs(1)));
        let states = governor.keys.lock().expect("lock");
        assert!(
            states["partner"].learned,
            "a customer with no traffic of its own cannot explain a 429: the partner slows down"
        );
        assert!(states["partner/quiet"].learned);
    }

    #[tokio::test]
    async fn a_429_pauses_the_key_and_halves_its_window() {
        let governor = Governor::default();
        let keys = vec!["partner".to_owned()];
        let permit = governor.acquire(&keys).await;
        governor.release(permit, Outcome::Throttled(Duration::from_millis(200)));
        let started = Instant::now();
        let permit = governor.acquire(&keys).await;
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited for Retry-After"
        );
        governor.release(permit, Outcome::Ok);
        let other = governor.acquire(&["another".to_owned()]).await;
        governor.release(other, Outcome::Ok);
        let states = governor.keys.lock().expect("lock");
        assert!(states["partner"].window < 4.0 + 1.0);
        assert!(states["partner"].learned);
        assert!(!states["another"].learned, "keys are independent");
    }
}
