//! Batched polling of release groups: every service waiting on its new group asks here,
//! and one DescribeAutoScalingGroups (up to 50 names a call) answers for all of them per
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
    /// number: the order the services began to wait, which is the order their groups
    /// were created.
    wanted: BTreeMap<String, u64>,
    next: u64,
    cache: BTreeMap<String, Option<GroupInstances>>,
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

    /// How many groups waited on began to wait before `group`, and how many are waited on.
    fn rank(&self, group: &str) -> (usize, usize) {
        let mine = self.wanted.get(group).copied().unwrap_or(u64::MAX);
        (self.wanted.values().filter(|&&n| n < mine).count(), self.wanted.len())
    }
}

pub struct GroupWatch {
    cloud: Cloud,
    state: tokio::sync::Mutex<State>,
}

impl GroupWatch {
    pub fn new(cloud: Cloud) -> Self {
        Self { cloud, state: tokio::sync::Mutex::new(State::default()) }
    }

    /// The group's instances, at most `fresh` old. Refreshes every wanted group at once.
    pub async fn instances(&self, group: &ReleaseName, fresh: Duration) -> CloudResult<Option<GroupInstances>> {
        let group = group.to_string();
        let mut st = self.state.lock().await;
        st.want(&group);
        let stale = st.at.is_none_or(|t| t.elapsed() >= fresh) || !st.cache.contains_key(&group);
        if stale {
            let names: Vec<String> = st.wanted.keys().cloned().collect();
            let mut fresh_cache = BTreeMap::new();
            for chunk in names.chunks(50) {
                let out = self
                    .cloud
                    .gate
                    .asg(Api::AsgRead)
                    .await
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names(Some(chunk.to_vec()))
                    .max_records(100)
                    .send()
                    .await
                    .map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
                for n in chunk {
                    fresh_cache.insert(n.clone(), None);
                }
                for g in out.auto_scaling_groups() {
                    let booting = |s: Option<&LifecycleState>| {
                        matches!(
                            s,
                            Some(
                                LifecycleState::Pending | LifecycleState::PendingWait | LifecycleState::PendingProceed
                            )
                        )
                    };
                    let live: Vec<_> = g
                        .instances()
                        .iter()
                        .filter(|i| {
                            booting(i.lifecycle_state()) || i.lifecycle_state() == Some(&LifecycleState::InService)
                        })
                        .collect();
                    let pending = live.iter().filter(|i| booting(i.lifecycle_state())).count();
                    let ids = live.iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
                    let name = g.auto_scaling_group_name().unwrap_or_default().to_owned();
                    fresh_cache.insert(name, Some((g.desired_capacity().unwrap_or(0).max(0) as u32, ids, pending)));
                }
            }
            st.cache = fresh_cache;
            st.at = Some(Instant::now());
        }
        Ok(st.cache.get(&group).cloned().flatten())
    }

    /// How many groups waited on now began to wait before `group`, and how many are
    /// waited on (`domain::health::poll_interval`).
    pub async fn rank(&self, group: &ReleaseName) -> (usize, usize) {
        self.state.lock().await.rank(&group.to_string())
    }

    /// The waiter of `group` is done: it is no longer described.
    pub async fn forget(&self, group: &ReleaseName) {
        let group = group.to_string();
        let mut st = self.state.lock().await;
        st.wanted.remove(&group);
        st.cache.remove(&group);
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn a_groups_rank_is_how_many_waited_on_began_before_it() {
        let mut st = State::default();
        for g in ["www-v002", "api-v007", "img-v001"] {
            st.want(g);
        }
        // Asked for again: it keeps its place.
        st.want("www-v002");
        assert_eq!(st.rank("www-v002"), (0, 3));
        assert_eq!(st.rank("img-v001"), (2, 3), "by when it began to wait, not by name");
        // The first is done: the others move up, and a newcomer comes last.
        st.wanted.remove("www-v002");
        st.want("www-v003");
        assert_eq!(st.rank("api-v007"), (0, 3));
        assert_eq!(st.rank("www-v003"), (2, 3));
    }
}
