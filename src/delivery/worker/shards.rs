//! On Citus: the shard groups this worker process claims from.
//!
//! A claim there must name one shard group's tenants, so that Citus routes
//! it whole to the node holding them (see `store::citus`). Each process
//! takes a share of the groups — the groups whose position, modulo the
//! number of live worker processes, is its own position among them — so no
//! two processes work the same group's index at once, and when a process
//! dies (its heartbeat goes stale) the others take its groups over within
//! `STALE`. The fan-out cannot NOTIFY there, so the worker finds work by a
//! probe of every shard (`store::citus::due_tenants`) and then claims from
//! the groups it owns that have some, round-robin; a group whose claim came
//! back full is claimed again before the next probe.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Worker;
use crate::domain::ids::TenantId;
use crate::store::citus::{self, ShardGroup};
use crate::store::deliveries::Claimed;
use crate::store::StoreError;

/// How often the map of tenants to shard groups, and the share, is read
/// again (sooner when a probe finds a tenant it does not know).
pub(super) const REFRESH: Duration = Duration::from_secs(2);
/// A worker whose heartbeat is older than this no longer owns its share.
pub(super) const STALE: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub(super) struct Shards {
    groups: Vec<ShardGroup>,
    /// Per owned group: its index in `groups`.
    owned: Vec<usize>,
    /// The shard group (index in `groups`) of every tenant.
    tenant_group: HashMap<TenantId, usize>,
    /// Owned groups known to have work, claimed in this order.
    due: VecDeque<usize>,
    refreshed: Option<Instant>,
}

impl Shards {
    pub(super) fn needs_refresh(&self) -> bool {
        self.refreshed.is_none_or(|at| at.elapsed() >= REFRESH)
    }

    /// Takes the current groups and this process's share of them: `me`
    /// among the `live` worker ids (sorted); a process not yet registered
    /// counts itself in where it would sort.
    pub(super) fn refresh(&mut self, groups: Vec<ShardGroup>, live: &[String], me: &str) {
        let mut live: Vec<&str> = live.iter().map(String::as_str).collect();
        if !live.contains(&me) {
            live.push(me);
            live.sort_unstable();
        }
        let position = live.iter().position(|w| *w == me).unwrap_or(0);
        let n = live.len().max(1);
        self.owned = (0..groups.len()).filter(|g| g % n == position).collect();
        self.tenant_group = groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| group.tenants.iter().map(move |t| (t.clone(), g)))
            .collect();
        self.groups = groups;
        self.due.clear();
        self.refreshed = Some(Instant::now());
    }

    /// Forget the map: the next claim reads it again.
    pub(super) fn expire(&mut self) {
        self.refreshed = None;
    }

    /// Queues the owned groups of these tenants (with due work). Returns
    /// false when a tenant is in no known group (a new tenant: the map is
    /// stale).
    pub(super) fn mark_due(&mut self, tenants: &[TenantId]) -> bool {
        let mut known = true;
        for tenant in tenants {
            match self.tenant_group.get(tenant) {
                Some(&g) => {
                    if self.owned.contains(&g) && !self.due.contains(&g) {
                        self.due.push_back(g);
                    }
                }
                None => known = false,
            }
        }
        known
    }

    /// The next owned group with work, and its tenants.
    pub(super) fn next_due(&mut self) -> Option<(usize, Vec<TenantId>)> {
        let g = self.due.pop_front()?;
        Some((g, self.groups[g].tenants.clone()))
    }

    /// This group had more work than one claim took: claim it again.
    pub(super) fn requeue(&mut self, group: usize) {
        if !self.due.contains(&group) {
            self.due.push_back(group);
        }
    }

    /// Every tenant's group, for the recorder.
    pub(super) fn tenant_groups(&self) -> HashMap<TenantId, usize> {
        self.tenant_group.clone()
    }

    /// The tenants of each owned group.
    pub(super) fn owned_tenants(&self) -> Vec<Vec<TenantId>> {
        self.owned
            .iter()
            .map(|&g| self.groups[g].tenants.clone())
            .collect()
    }

    pub(super) fn owned(&self) -> usize {
        self.owned.len()
    }
}

impl Worker {
    /// On Citus: claims from the owned shard groups that have work (see
    /// `shards`), one routed claim per group, until one finds some.
    pub(super) async fn claim_routed(
        &self,
        client: &deadpool_postgres::Object,
        now: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        // Citus refuses now() inside the claim's CASE and COALESCE: the
        // time is passed in.
        let now = now.unwrap_or_else(Utc::now);
        let mut shards = self.inner.shards.lock().await;
        if shards.needs_refresh() {
            self.refresh_shards(client, &mut shards).await?;
        }
        let mut probed = false;
        loop {
            let Some((group, tenants)) = shards.next_due() else {
                if probed {
                    return Ok(Vec::new());
                }
                probed = true;
                let due = citus::due_tenants(client).await?;
                if !shards.mark_due(&due) {
                    // A tenant the map does not know yet: read it again.
                    self.refresh_shards(client, &mut shards).await?;
                    shards.mark_due(&due);
                }
                continue;
            };
            let claimed = match self
                .claim_from(client, Some(now), limit, Some(&tenants))
                .await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    // A shard moved, say: read the map again next time.
                    shards.expire();
                    return Err(err);
                }
            };
            if claimed.len() >= limit {
                shards.requeue(group);
            }
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
    }

    async fn refresh_shards(
        &self,
        client: &deadpool_postgres::Object,
        shards: &mut Shards,
    ) -> Result<(), StoreError> {
        let stale_ms = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
        let live = citus::live_workers(client, stale_ms).await?;
        let groups = citus::shard_groups(client).await?;
        shards.refresh(groups, &live, &self.inner.id);
        self.inner.groups.set(shards.tenant_groups());
        tracing::debug!(
            owned = shards.owned(),
            workers = live.len(),
            "shard groups refreshed"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(n: usize) -> Vec<ShardGroup> {
        (0..n)
            .map(|g| ShardGroup {
                shard: 100 + g as i64,
                tenants: vec![TenantId::try_from(format!("t{g}")).unwrap()],
            })
            .collect()
    }

    fn t(s: &str) -> TenantId {
        TenantId::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn live_workers_split_the_groups_between_them_without_overlap() {
        let live = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let mut owners = vec![0; 8];
        for me in &live {
            let mut s = Shards::default();
            s.refresh(groups(8), &live, me);
            for g in &s.owned {
                owners[*g] += 1;
            }
        }
        assert_eq!(owners, vec![1; 8], "each group has exactly one owner");
    }

    #[test]
    fn a_dead_workers_groups_are_taken_over() {
        let mut s = Shards::default();
        s.refresh(groups(4), &["a".into(), "b".into()], "a");
        assert_eq!(s.owned(), 2);
        s.refresh(groups(4), &["a".into()], "a");
        assert_eq!(s.owned(), 4);
        // Not registered yet: counts itself in.
        s.refresh(groups(4), &["b".into()], "a");
        assert_eq!(s.owned(), 2);
    }

    #[test]
    fn due_groups_are_claimed_round_robin_and_unknown_tenants_ask_for_a_refresh() {
        let mut s = Shards::default();
        s.refresh(groups(3), &["a".into()], "a");
        assert!(s.mark_due(&[t("t2"), t("t0"), t("t2")]));
        let (g, tenants) = s.next_due().unwrap();
        assert_eq!((g, tenants), (2, vec![t("t2")]));
        s.requeue(2);
        assert_eq!(s.next_due().unwrap().0, 0);
        assert_eq!(s.next_due().unwrap().0, 2);
        assert!(s.next_due().is_none());
        assert!(!s.mark_due(&[t("new")]));
    }
}
