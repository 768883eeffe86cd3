//! Batched polling of release groups: every service waiting on its new group asks here,
//! and one DescribeAutoScalingGroups (up to 100 names a call) answers for all of them per
//! poll interval, instead of one call per service.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::LifecycleState;

use super::pace::Api;
use super::{aws_error, Cloud, CloudResult};
use crate::domain::ReleaseName;

/// A group as a waiter needs it: desired capacity, its live instances, and how many of
/// those are still booting (lifecycle Pending: not yet registered with the ELB).
pub type GroupInstances = (u32, Vec<String>, usize);

#[derive(Default)]
struct State {
    /// The groups waited on, each with when it was first asked for, as a sequence
    /// number: the order the services began to wait.
    wanted: BTreeMap<String, u64>,
    next: u64,
    cache: BTreeMap<String, Option<GroupInstances>>,
    /// When AWS created each group described (milliseconds since the epoch).
    created: BTreeMap<String, i64>,
    at: Option<Instant>,
}

impl State {
    /// `group` is waited on, from now if it was not.
    fn want(&mut self, group: &str) {
        if !self.wanted.contains_key(group) {
            self.wanted.insert(group.to_owned(), self.next);
            self.next = self.next.saturating_add(1);
        }
    }

    /// How many groups waited on were created before `group` (the groups not described
    /// yet come last, by when they began to wait), and how many are waited on.
    fn rank(&self, group: &str) -> (usize, usize) {
        let key = |g: &str, seq: u64| (self.created.get(g).copied().unwrap_or(i64::MAX), seq);
        let mine = key(group, self.wanted.get(group).copied().unwrap_or(u64::MAX));
        (self.wanted.iter().filter(|(g, &n)| key(g, n) < mine).count(), self.wanted.len())
    }
}

/// Group names per DescribeAutoScalingGroups, and the MaxRecords that allows them.
const NAMES_PER_CALL: usize = 100;

pub struct GroupWatch {
    cloud: Cloud,
    state: tokio::sync::Mutex<State>,
}

impl GroupWatch {
    pub fn new(cloud: Cloud) -> Self {
        Self { cloud, state: tokio::sync::Mutex::new(State::default()) }
    }

    /// The group's instances, at most `fresh` old. Refreshes every wanted group at once;
    /// a group asked for the first time while the others are fresh is described alone
    /// (with any other newcomer), not with all of them again.
    pub async fn instances(&self, group: &ReleaseName, fresh: Duration) -> CloudResult<Option<GroupInstances>> {
        let group = group.to_string();
        let mut st = self.state.lock().await;
        st.want(&group);
        if st.at.is_none_or(|t| t.elapsed() >= fresh) {
            let names: Vec<String> = st.wanted.keys().cloned().collect();
            let (cache, created) = self.describe(&names).await?;
            (st.cache, st.created) = (cache, created);
            st.at = Some(Instant::now());
        } else if !st.cache.contains_key(&group) {
            let names: Vec<String> = st.wanted.keys().filter(|g| !st.cache.contains_key(*g)).cloned().collect();
            let (cache, created) = self.describe(&names).await?;
            st.cache.extend(cache);
            st.created.extend(created);
        }
        Ok(st.cache.get(&group).cloned().flatten())
    }

    /// `names`' instances (None: not listed) and creation times, 100 names a call: AWS
    /// takes as many names as MaxRecords (50 by default, at most 100; the shim's patch
    /// (r) enforces it).
    async fn describe(
        &self,
        names: &[String],
    ) -> CloudResult<(BTreeMap<String, Option<GroupInstances>>, BTreeMap<String, i64>)> {
        let mut cache = BTreeMap::new();
        let mut created = BTreeMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let out = self
                .cloud
                .gate
                .asg(Api::AsgRead)
                .await
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()))
                .max_records(NAMES_PER_CALL as i32)
                .send()
                .await
                .map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
            for n in chunk {
                cache.insert(n.clone(), None);
            }
            for g in out.auto_scaling_groups() {
                let booting = |s: Option<&LifecycleState>| {
                    matches!(
                        s,
                        Some(LifecycleState::Pending | LifecycleState::PendingWait | LifecycleState::PendingProceed)
                    )
                };
                let live: Vec<_> = g
                    .instances()
                    .iter()
                    .filter(|i| booting(i.lifecycle_state()) || i.lifecycle_state() == Some(&LifecycleState::InService))
                    .collect();
                let pending = live.iter().filter(|i| booting(i.lifecycle_state())).count();
                let ids = live.iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
                let name = g.auto_scaling_group_name().unwrap_or_default().to_owned();
                if let Some(t) = g.created_time().and_then(|t| t.to_millis().ok()) {
                    created.insert(name.clone(), t);
                }
                cache.insert(name, Some((g.desired_capacity().unwrap_or(0).max(0) as u32, ids, pending)));
            }
        }
        Ok((cache, created))
    }

    /// How many groups waited on now were created before `group`, and how many are
    /// waited on (`domain::health::poll_interval`): the groups created first are the
    /// closest to ready, whatever order their services began to wait in.
    pub async fn rank(&self, group: &ReleaseName) -> (usize, usize) {
        self.state.lock().await.rank(&group.to_string())
    }

    /// The waiter of `group` is done: it is no longer described.
    pub async fn forget(&self, group: &ReleaseName) {
        let group = group.to_string();
        let mut st = self.state.lock().await;
        st.wanted.remove(&group);
        st.cache.remove(&group);
        st.created.remove(&group);
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn a_groups_rank_is_how_many_waited_on_were_created_before_it() {
        let mut st = State::default();
        for g in ["www-v002", "api-v007", "img-v001", "db-v003"] {
            st.want(g);
        }
        // Asked for again: it keeps its place.
        st.want("www-v002");
        // Not described yet: by when each began to wait, after every group described.
        assert_eq!(st.rank("www-v002"), (0, 4));
        assert_eq!(st.rank("img-v001"), (2, 4), "by when it began to wait, not by name");
        // Services can begin to wait in another order than their groups were created in
        // (a step between, paced): the creation time decides.
        st.created.extend([
            ("img-v001".to_owned(), 1_000),
            ("api-v007".to_owned(), 2_000),
            ("www-v002".to_owned(), 3_000),
        ]);
        assert_eq!(st.rank("img-v001"), (0, 4));
        assert_eq!(st.rank("www-v002"), (2, 4));
        assert_eq!(st.rank("db-v003"), (3, 4), "not described yet: last");
        // The first is done: the others move up, and a newcomer comes last.
        st.wanted.remove("img-v001");
        st.want("www-v003");
        assert_eq!(st.rank("api-v007"), (0, 4));
        assert_eq!(st.rank("www-v003"), (3, 4));
    }
}
