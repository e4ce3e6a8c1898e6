//! A replay ("recover"): the events of a time range queued again for one
//! destination or every destination of a tenant they were sent to, run
//! in the database in steps (V28, `outbound.replay_step()`); and how far
//! one got.

use chrono::{DateTime, Utc};

use super::ids::{DestinationId, ReplayId, TenantId};

/// Events a replay step takes at a time. A step also waits, before it
/// queues more, until fewer than this many of the replay's deliveries
/// still wait for their first attempt. Measured on a 2-core machine: a
/// step of 500 events takes 20-30 ms.
pub const BATCH: i32 = 500;

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayState {
    /// Queuing; or waiting for what it queued to be attempted once.
    Running,
    /// Every event of the range was looked at, and everything it queued
    /// was attempted at least once (or is held for a disabled destination).
    Finished,
    /// Stopped by a person; what it queued and was not sent was taken back.
    Cancelled,
    /// Its destination was deleted.
    Failed,
}

impl ReplayState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayState::Running => "running",
            ReplayState::Finished => "finished",
            ReplayState::Cancelled => "cancelled",
            ReplayState::Failed => "failed",
        }
    }

    /// The state as the database spells it.
    pub fn parse(s: &str) -> Option<ReplayState> {
        [
            ReplayState::Running,
            ReplayState::Finished,
            ReplayState::Cancelled,
            ReplayState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// A replay to start.
#[derive(Debug, Clone)]
pub struct NewReplay {
    pub tenant_id: TenantId,
    /// None: every destination each event was sent to.
    pub destination_id: Option<DestinationId>,
    pub start: DateTime<Utc>,
    /// None: now.
    pub end: Option<DateTime<Utc>>,
    pub failed_only: bool,
    /// Names or `*` patterns; None: every topic.
    pub topics: Option<Vec<String>>,
    /// "admin" or "tenant".
    pub requested_by: String,
}

/// A replay and its counts.
#[derive(Debug, Clone)]
pub struct Replay {
    pub id: ReplayId,
    pub tenant_id: TenantId,
    pub destination_id: Option<DestinationId>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub failed_only: bool,
    pub topics: Option<Vec<String>>,
    pub state: ReplayState,
    pub error: Option<String>,
    /// Every event of the range has been looked at.
    pub scanned: bool,
    /// The time of the last event looked at (the start before the first).
    pub cursor: DateTime<Utc>,
    pub events_scanned: i64,
    pub deliveries_queued: i64,
    pub deliveries_held: i64,
    pub deliveries_skipped: i64,
    pub deliveries_cancelled: i64,
    /// Deliveries it queued that wait for their first attempt (now).
    pub deliveries_waiting: i64,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Replay {
    /// The share of the range looked at, from 0 to 1, by time: the events
    /// are walked oldest first, so the cursor's place in the range is how
    /// far the walk is. A range that ends after `now` counts up to `now`
    /// (later events are rare: published with a time ahead).
    pub fn progress(&self, now: DateTime<Utc>) -> f64 {
        if self.scanned || self.state == ReplayState::Finished {
            return 1.0;
        }
        let end = self.end.min(now.max(self.cursor));
        let whole = (end - self.start).num_milliseconds();
        if whole <= 0 {
            return 0.0;
        }
        let done = (self.cursor - self.start).num_milliseconds();
        (done as f64 / whole as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn replay(start: i64, end: i64, cursor: i64) -> Replay {
        let t = |s| Utc.timestamp_opt(s, 0).unwrap();
        Replay {
            id: ReplayId::parse("rpl_1").unwrap(),
            tenant_id: TenantId::parse("t").unwrap(),
            destination_id: None,
            start: t(start),
            end: t(end),
            failed_only: true,
            topics: None,
            state: ReplayState::Running,
            error: None,
            scanned: false,
            cursor: t(cursor),
            events_scanned: 0,
            deliveries_queued: 0,
            deliveries_held: 0,
            deliveries_skipped: 0,
            deliveries_cancelled: 0,
            deliveries_waiting: 0,
            requested_by: "admin".into(),
            created_at: t(end),
            updated_at: t(end),
            finished_at: None,
        }
    }

    #[test]
    fn progress_is_the_cursors_place_in_the_range() {
        let now = Utc.timestamp_opt(1000, 0).unwrap();
        assert_eq!(replay(0, 1000, 0).progress(now), 0.0);
        assert_eq!(replay(0, 1000, 250).progress(now), 0.25);
        // A range that ends after now counts up to now.
        assert_eq!(replay(0, 4000, 500).progress(now), 0.5);
        let mut done = replay(0, 1000, 10);
        done.scanned = true;
        assert_eq!(done.progress(now), 1.0);
    }

    #[test]
    fn states_round_trip() {
        for s in ["running", "finished", "cancelled", "failed"] {
            assert_eq!(ReplayState::parse(s).map(ReplayState::as_str), Some(s));
        }
        assert_eq!(ReplayState::parse("paused"), None);
    }
}
