//! The circuits this process knows to be open, so that deliveries it
//! already claimed are not sent into an outage.
//!
//! The claim gives nothing of a destination whose circuit is open
//! (`deliveries/claim.sql`). But a worker holds claimed deliveries before
//! they get a send slot, and a destination may go down between the claim
//! and the send: without this, every one of them would be sent, and fail,
//! after the first failures had already opened the circuit. The recorder
//! writes here what each recorded batch says of the circuits it touched;
//! the attempter reads it just before a send, and postpones (unsent, no
//! attempt used up) what would go to an open circuit.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::domain::ids::DestinationKey;
use crate::store::deliveries::DestinationCount;

#[derive(Debug, Default)]
pub struct OpenCircuits {
    until: Mutex<HashMap<DestinationKey, DateTime<Utc>>>,
}

impl OpenCircuits {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<DestinationKey, DateTime<Utc>>> {
        // A panic while holding the lock leaves plain entries behind.
        self.until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Until when `id`'s circuit is open, if it is open at `now`.
    pub fn open_until(&self, id: &DestinationKey, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut map = self.map();
        match map.get(id) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// What a recorded batch left the circuits of its destinations at.
    pub fn update(&self, counts: &[DestinationCount], now: DateTime<Utc>) {
        let mut map = self.map();
        for c in counts {
            match c.circuit_open_until {
                Some(until) if until > now => {
                    map.insert(c.key(), until);
                }
                _ => {
                    map.remove(&c.key());
                }
            }
        }
    }
}
