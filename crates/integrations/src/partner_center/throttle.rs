//! Being a good citizen under throttling (spec §7), per key — the partner, and the
//! partner+customer pair:
//! - at most two requests in flight, one after a 429 until a request passes again. When the
//!   service's bucket runs dry, only the requests already on their way can meet it before the
//!   first 429 comes back and pauses the key, so no key is answered 429 more than twice in a
//!   row, whatever the latency or the burst the service allows;
//! - a pace that starts modest and doubles each second until the first 429 (slow start), is
//!   halved then, and afterwards grows by 4% a second and steps down by 10% at each 429. It
//!   grows with time, not with successes, and only while it holds requests back, so it stays
//!   close to what the service allows and 429s stay rare;
//! - a pause for as long as `Retry-After` says.
//!
//! A 429 does not say which key's limit it met; it is put down to the customer only when that
//! customer's own traffic could explain it, and a second 429 in a row pauses the partner anyway.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The most requests in flight on one key: the most a bucket that runs dry can answer 429
/// before the client hears of it.
const MAX_IN_FLIGHT: usize = 2;
/// The pace of a key the service has not throttled yet, in requests a second.
const INITIAL_PACE: f64 = 200.0;
/// How far behind its pace a key may fall and catch up.
const TIMER_SLACK: Duration = Duration::from_millis(5);
/// How much the pace of a key grows a second before its first 429, and after.
const SLOW_START_GROWTH: f64 = 2.0;
const LEARNED_GROWTH: f64 = 1.04;
/// A key unused this long, with nothing in flight and no pause to keep, is forgotten: a
/// retrieval touches each customer's key for a moment, and tens of thousands of them would
/// otherwise stay. A key the service throttled keeps what it learned longer.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(10);
const LEARNED_FORGOTTEN_AFTER: Duration = Duration::from_secs(300);
/// How often forgotten keys are looked for, once there are this many keys.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const SWEEP_FROM: usize = 256;

#[derive(Debug)]
struct KeyState {
    in_flight: usize,
    /// Answered 429 since its last success: then one request at a time, and a second 429
    /// pauses the key whoever was blamed for the first.
    throttled: bool,
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
    /// When the pace last grew.
    grown: Instant,
    /// Whether a request waited for the pace since then: only a pace that holds requests back
    /// grows, so it never runs far ahead of what is really sent.
    paced: bool,
}

impl KeyState {
    fn allowed_in_flight(&self) -> usize {
        if self.throttled { 1 } else { MAX_IN_FLIGHT }
    }

    /// Successes in the last second.
    fn recent_rate(&self, now: Instant) -> f64 {
        self.recent
            .iter()
            .filter(|t| now.duration_since(**t) <= Duration::from_secs(1))
            .count() as f64
    }

    /// Whether the key may be forgotten: a new one would do the same.
    fn idle(&self, now: Instant) -> bool {
        let quiet = if self.learned {
            LEARNED_FORGOTTEN_AFTER
        } else {
            FORGOTTEN_AFTER
        };
        let last = self.grown.max(self.paused_until).max(self.next_slot);
        self.in_flight == 0 && now.saturating_duration_since(last) > quiet
    }

    fn new(now: Instant) -> Self {
        KeyState {
            throttled: false,
            in_flight: 0,
            pace: INITIAL_PACE,
            learned: false,
            next_slot: now,
            paused_until: now,
            recent: VecDeque::new(),
            grown: now,
            paced: false,
        }
    }
}

/// The throttling state of every key a client uses.
#[derive(Debug, Default)]
pub struct Governor {
    keys: Mutex<Keys>,
    /// Wakes requests waiting for a key's request in flight to come back.
    released: Notify,
}

#[derive(Debug, Default)]
struct Keys {
    states: HashMap<String, KeyState>,
    swept: Option<Instant>,
}

impl Keys {
    /// Forgets idle keys, at most once every `SWEEP_EVERY`.
    fn sweep(&mut self, now: Instant) {
        let due = self
            .swept
            .is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY);
        if self.states.len() >= SWEEP_FROM && due {
            self.states.retain(|_, state| !state.idle(now));
            self.swept = Some(now);
        }
    }
}

/// A permission to send one request on some keys; give it back with the outcome.
#[derive(Debug)]
pub struct Permit {
    keys: Vec<String>,
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

/// Why a request cannot leave yet.
enum Wait {
    /// For the pace or a pause, this long.
    For(Duration),
    /// For a request in flight to come back.
    Release,
}

impl Governor {
    /// Waits until every key allows one more request, and takes it.
    pub async fn acquire(&self, keys: &[String]) -> Permit {
        loop {
            // Registered before looking, so a release in between is not missed.
            let released = self.released.notified();
            match self.try_acquire(keys) {
                Ok(permit) => return permit,
                Err(Wait::For(wait)) => tokio::time::sleep(wait).await,
                Err(Wait::Release) => released.await,
            }
        }
    }

    fn try_acquire(&self, keys: &[String]) -> Result<Permit, Wait> {
        let mut guard = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let states = &mut guard.states;
        let now = Instant::now();
        let (mut full, mut longest) = (false, Duration::ZERO);
        for key in keys {
            let state = states
                .entry(key.clone())
                .or_insert_with(|| KeyState::new(now));
            let ready = state.paused_until.max(state.next_slot);
            if state.in_flight >= state.allowed_in_flight() {
                full = true;
            } else if ready > now {
                state.paced |= state.next_slot > now;
                longest = longest.max(ready - now);
            }
        }
        if full {
            return Err(Wait::Release);
        }
        if !longest.is_zero() {
            return Err(Wait::For(longest));
        }
        for key in keys {
            if let Some(state) = states.get_mut(key) {
                state.in_flight += 1;
                // A request that woke late does not push the next one later: timers are
                // coarser than the gaps at a high pace.
                let behind = now.checked_sub(TIMER_SLACK).unwrap_or(now);
                state.next_slot =
                    state.next_slot.max(behind) + Duration::from_secs_f64(1.0 / state.pace);
            }
        }
        Ok(Permit {
            keys: keys.to_vec(),
        })
    }

    /// Gives a permit back and learns from how its request ended.
    pub fn release(&self, permit: Permit, outcome: Outcome) {
        let mut guard = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let states = &mut guard.states;
        let blamed = match outcome {
            Outcome::Throttled(_) => blame(states, &permit.keys, now),
            _ => 0,
        };
        for (position, key) in permit.keys.iter().enumerate() {
            let Some(state) = states.get_mut(key) else {
                continue;
            };
            state.in_flight = state.in_flight.saturating_sub(1);
            match outcome {
                Outcome::Ok => {
                    state.throttled = false;
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
                Outcome::Throttled(_) if state.paused_until > now => {
                    // Sent before the key was paused: only the request comes back.
                }
                Outcome::Throttled(_) if position < blamed && !state.throttled => {
                    // Likely not this key's doing; but if a second 429 follows, it was.
                    state.throttled = true;
                }
                Outcome::Throttled(retry_after) => {
                    state.throttled = true;
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
        guard.sweep(now);
        drop(guard);
        self.released.notify_waiters();
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

    fn learned(governor: &Governor, key: &str) -> bool {
        governor.keys.lock().expect("lock").states[key].learned
    }

    #[tokio::test]
    async fn keys_no_request_needs_are_forgotten() {
        let governor = Governor::default();
        for n in 0..SWEEP_FROM + 44 {
            let keys = vec!["partner".to_owned(), format!("partner/{n}")];
            let permit = governor.acquire(&keys).await;
            governor.release(permit, Outcome::Ok);
        }
        let mut keys = governor.keys.lock().expect("lock");
        assert_eq!(keys.states.len(), SWEEP_FROM + 45);
        let soon = Instant::now() + FORGOTTEN_AFTER / 2;
        keys.swept = None;
        keys.sweep(soon);
        assert_eq!(keys.states.len(), SWEEP_FROM + 45, "still fresh");
        let later = Instant::now() + FORGOTTEN_AFTER * 2;
        keys.swept = None;
        keys.sweep(later);
        assert!(keys.states.is_empty(), "{} kept", keys.states.len());
    }

    #[tokio::test]
    async fn a_429_is_blamed_on_the_customer_only_when_its_traffic_explains_it() {
        let governor = Governor::default();
        let customer = |name: &str| vec!["partner".to_owned(), format!("partner/{name}")];
        for name in ["busy", "also-busy"] {
            for _ in 0..3 {
                let permit = governor.acquire(&customer(name)).await;
                governor.release(permit, Outcome::Ok);
            }
        }
        let permit = governor.acquire(&customer("busy")).await;
        governor.release(permit, Outcome::Throttled(Duration::from_secs(1)));
        assert!(
            learned(&governor, "partner/busy"),
            "the busy customer slows down"
        );
        assert!(!learned(&governor, "partner"), "the partner carries on");
        let permit = governor.acquire(&customer("also-busy")).await;
        governor.release(permit, Outcome::Throttled(Duration::from_secs(1)));
        assert!(
            learned(&governor, "partner"),
            "a second 429 in a row slows the partner down, whoever is blamed"
        );

        let governor = Governor::default();
        let permit = governor.acquire(&customer("quiet")).await;
        governor.release(permit, Outcome::Throttled(Duration::from_secs(1)));
        assert!(
            learned(&governor, "partner"),
            "a customer with no traffic of its own cannot explain a 429: the partner slows down"
        );
        assert!(learned(&governor, "partner/quiet"));
    }

    #[tokio::test]
    async fn a_key_has_two_requests_in_flight_and_one_after_a_429() {
        let governor = Governor::default();
        let keys = vec!["partner".to_owned()];
        let first = governor.acquire(&keys).await;
        let second = governor.acquire(&keys).await;
        assert!(
            matches!(governor.try_acquire(&keys), Err(Wait::Release)),
            "a third waits for one to come back"
        );
        governor.release(first, Outcome::Throttled(Duration::from_millis(200)));
        governor.release(second, Outcome::Throttled(Duration::from_millis(200)));
        let started = Instant::now();
        let probe = governor.acquire(&keys).await;
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited for Retry-After"
        );
        assert!(
            matches!(governor.try_acquire(&keys), Err(Wait::Release)),
            "after a 429, one request until one passes"
        );
        governor.release(probe, Outcome::Ok);
        let again = [governor.acquire(&keys).await, governor.acquire(&keys).await];
        for permit in again {
            governor.release(permit, Outcome::Ok);
        }
        let other = governor.acquire(&["another".to_owned()]).await;
        governor.release(other, Outcome::Ok);
        assert!(learned(&governor, "partner"));
        assert!(!learned(&governor, "another"), "keys are independent");
    }

    #[tokio::test]
    async fn a_request_waiting_for_its_key_leaves_when_one_comes_back() {
        let governor = std::sync::Arc::new(Governor::default());
        let keys = vec!["partner".to_owned()];
        let held = [governor.acquire(&keys).await, governor.acquire(&keys).await];
        let waiting = tokio::spawn({
            let (governor, keys) = (governor.clone(), keys.clone());
            async move { governor.acquire(&keys).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "both places are taken");
        let [first, second] = held;
        governor.release(first, Outcome::Ok);
        let third = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("woken by the release")
            .expect("task");
        governor.release(second, Outcome::Ok);
        governor.release(third, Outcome::Ok);
    }
}
