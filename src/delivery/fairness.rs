//! How much of each destination one worker may take: the per-destination
//! bookkeeping behind the claim's caps (`deliveries/claim.sql`).
//!
//! The worker counts the deliveries it holds per destination (claimed and
//! not yet recorded: waiting for a slot or in flight) and how long each
//! destination takes to answer. A destination that answers quickly gets as
//! much as the worker can hold: capping it would only cost throughput (a
//! cap binding on fast destinations parks and unparks most of the queue;
//! `bench delivery` B). A destination that is slow — its recent sends take
//! [`SLOW_AFTER`] or more, timeouts included — or not known yet may hold at
//! most `DELIVERY_DESTINATION_CONCURRENCY` of this worker's deliveries, and
//! slow destinations together at most three quarters of its send slots: a
//! quarter always stays for everyone else. What a destination may not take
//! stays in the database, parked, for whichever worker has room.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::ids::DestinationKey;
use crate::store::deliveries::{ClaimLimits, Claimed};

/// A destination whose sends take this long (a moving average) is slow.
/// Fast receivers answer in milliseconds; 100 ms leaves room for a loaded
/// machine and a distant receiver.
pub const SLOW_AFTER: Duration = Duration::from_millis(100);
/// Weight of the newest send in the moving average: one 1.5 s send makes a
/// 5 ms destination slow at once; it takes about a dozen quick answers to
/// make a slow one fast again.
const WEIGHT: f64 = 0.2;
/// A destination not heard from for this long is forgotten (its next
/// delivery is treated as a new destination's).
const FORGET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Entry {
    held: usize,
    /// Moving average of send durations, ms; None until the first answer.
    latency_ms: Option<f64>,
    last_seen: Instant,
}

impl Entry {
    fn slow(&self) -> bool {
        self.latency_ms
            .is_none_or(|ms| ms >= SLOW_AFTER.as_secs_f64() * 1000.0)
    }
}

/// One worker's per-destination counts. Shared by the claim loop and the
/// send tasks.
#[derive(Debug)]
pub struct Fairness {
    entries: Mutex<HashMap<DestinationKey, Entry>>,
    /// Most deliveries one slow or unknown destination may hold.
    slow_cap: usize,
    /// Most deliveries all slow destinations together may hold.
    slow_budget: usize,
    /// Most deliveries the worker holds at all (no cap for fast ones).
    capacity: usize,
    circuit_threshold: u32,
}

impl Fairness {
    pub fn new(
        slow_cap: usize,
        concurrency: usize,
        capacity: usize,
        circuit_threshold: u32,
    ) -> Fairness {
        Fairness {
            entries: Mutex::new(HashMap::new()),
            slow_cap: slow_cap.max(1),
            slow_budget: (concurrency * 3 / 4).max(1),
            capacity,
            circuit_threshold,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<DestinationKey, Entry>> {
        // A panic while holding the lock leaves plain counters behind:
        // still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The claim's limits: what each known destination holds and may hold.
    pub fn limits(&self) -> ClaimLimits {
        let mut entries = self.entries();
        entries.retain(|_, e| e.held > 0 || e.last_seen.elapsed() < FORGET_AFTER);
        let slow_held: usize = entries.values().filter(|e| e.slow()).map(|e| e.held).sum();
        let budget_left = self.slow_budget.saturating_sub(slow_held);
        // A destination nobody here knows yet may be slow: it gets the slow
        // cap, within the budget, and at least one (or new destinations
        // would wait for a slow one to finish).
        let default_cap = self.slow_cap.min(budget_left).max(1);
        let mut limits = ClaimLimits {
            default_cap: clamp(default_cap),
            circuit_threshold: i32::try_from(self.circuit_threshold).unwrap_or(i32::MAX),
            ..ClaimLimits::default()
        };
        for (id, e) in entries.iter() {
            let cap = if e.slow() {
                e.held + self.slow_cap.saturating_sub(e.held).min(budget_left)
            } else {
                self.capacity
            };
            limits.destinations.push(id.clone());
            limits.held.push(clamp(e.held));
            limits.caps.push(clamp(cap));
        }
        limits
    }

    /// A claim gave the worker these deliveries.
    pub fn claimed(&self, claimed: &[Claimed]) {
        let mut entries = self.entries();
        let now = Instant::now();
        for c in claimed {
            let e = entries
                .entry(DestinationKey::new(&c.tenant_id, &c.destination_id))
                .or_insert_with(|| Entry {
                    held: 0,
                    latency_ms: None,
                    last_seen: now,
                });
            e.held += 1;
            e.last_seen = now;
        }
    }

    /// The worker is done with one delivery of `id`; `took` is how long its
    /// send took when one was made. True when the destination was at its
    /// cap, so that a claim now may find its parked deliveries.
    pub fn finished(&self, id: &DestinationKey, took: Option<Duration>) -> bool {
        let mut entries = self.entries();
        let Some(e) = entries.get_mut(id) else {
            return false;
        };
        let was_capped = e.slow() && e.held >= self.slow_cap;
        e.held = e.held.saturating_sub(1);
        e.last_seen = Instant::now();
        if let Some(took) = took {
            let ms = took.as_secs_f64() * 1000.0;
            e.latency_ms = Some(match e.latency_ms {
                Some(avg) => avg + WEIGHT * (ms - avg),
                None => ms,
            });
        }
        was_capped || e.slow()
    }
}

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Orders a claimed batch round-robin by destination (each destination's
/// first delivery, then each one's second…), keeping each destination's
/// own order, so that no destination's share of a batch waits behind
/// another's.
pub fn interleave(claimed: Vec<Claimed>) -> Vec<Claimed> {
    let mut order: Vec<DestinationKey> = Vec::new();
    let mut queues: HashMap<DestinationKey, std::collections::VecDeque<Claimed>> = HashMap::new();
    for c in claimed {
        let key = DestinationKey::new(&c.tenant_id, &c.destination_id);
        let queue = queues.entry(key.clone()).or_default();
        if queue.is_empty() {
            order.push(key);
        }
        queue.push_back(c);
    }
    let mut out = Vec::new();
    loop {
        let mut any = false;
        for id in &order {
            if let Some(c) = queues.get_mut(id).and_then(|q| q.pop_front()) {
                out.push(c);
                any = true;
            }
        }
        if !any {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DestinationId, EventId, TenantId};

    fn key(destination: &str) -> DestinationKey {
        DestinationKey::new(
            &TenantId::parse("t").unwrap(),
            &DestinationId::parse(destination).unwrap(),
        )
    }

    fn claimed(destination: &str, event: &str) -> Claimed {
        Claimed {
            event_id: EventId::parse(event).unwrap(),
            destination_id: DestinationId::parse(destination).unwrap(),
            tenant_id: TenantId::parse("t").unwrap(),
            event_time: chrono::Utc::now(),
            claims: 1,
            attempts: 0,
            retry: true,
            manual: false,
            ordered: false,
            retry_base: 0,
            event: None,
            destination: None,
        }
    }

    fn caps(f: &Fairness) -> HashMap<String, (i32, i32)> {
        let l = f.limits();
        l.destinations
            .iter()
            .zip(l.held.iter().zip(&l.caps))
            .map(|(d, (h, c))| (d.destination_id.as_str().to_string(), (*h, *c)))
            .collect()
    }

    #[test]
    fn new_and_slow_destinations_are_capped_fast_ones_are_not() {
        let f = Fairness::new(4, 16, 100, 5);
        assert_eq!(f.limits().default_cap, 4, "an unknown destination");
        f.claimed(&[claimed("slow", "e1"), claimed("fast", "e2")]);
        assert_eq!(caps(&f)["slow"], (1, 4), "not measured yet: capped");
        f.finished(&key("fast"), Some(Duration::from_millis(3)));
        f.finished(&key("slow"), Some(Duration::from_millis(1500)));
        let c = caps(&f);
        assert_eq!(c["fast"], (0, 100), "fast: as much as the worker holds");
        assert_eq!(c["slow"], (0, 4));
    }

    #[test]
    fn slow_destinations_together_leave_a_quarter_of_the_slots() {
        // 16 slots: slow destinations together hold at most 12.
        let f = Fairness::new(8, 16, 100, 5);
        let batch: Vec<Claimed> = (0..8).map(|i| claimed("a", &format!("a{i}"))).collect();
        f.claimed(&batch);
        let batch: Vec<Claimed> = (0..3).map(|i| claimed("b", &format!("b{i}"))).collect();
        f.claimed(&batch);
        let c = caps(&f);
        assert_eq!(c["a"], (8, 8));
        assert_eq!(c["b"], (3, 4), "only one more of the budget of 12");
        assert_eq!(f.limits().default_cap, 1, "a newcomer still gets one");
    }

    #[test]
    fn one_long_send_makes_a_destination_slow_and_it_must_prove_itself_fast_again() {
        let f = Fairness::new(4, 16, 100, 5);
        let d = key("d");
        f.claimed(&[claimed("d", "e0")]);
        f.finished(&d, Some(Duration::from_millis(5)));
        assert_eq!(caps(&f)["d"].1, 100);
        f.claimed(&[claimed("d", "e1")]);
        assert!(
            f.finished(&d, Some(Duration::from_millis(1500))),
            "slow now"
        );
        assert_eq!(caps(&f)["d"].1, 4);
        let mut quick = 0;
        while caps(&f)["d"].1 == 4 {
            f.claimed(&[claimed("d", "e")]);
            f.finished(&d, Some(Duration::from_millis(5)));
            quick += 1;
        }
        assert!((5..=20).contains(&quick), "{quick} quick answers");
    }

    #[test]
    fn a_batch_is_sent_round_robin_by_destination() {
        let batch = vec![
            claimed("a", "a1"),
            claimed("a", "a2"),
            claimed("a", "a3"),
            claimed("b", "b1"),
            claimed("c", "c1"),
            claimed("b", "b2"),
        ];
        let order: Vec<String> = interleave(batch)
            .iter()
            .map(|c| c.event_id.as_str().to_string())
            .collect();
        assert_eq!(order, ["a1", "b1", "c1", "a2", "b2", "a3"]);
    }
}
