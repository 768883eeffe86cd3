//! One operation per cluster: the lease as data. The cloud layer makes taking it atomic
//! (a lock security group whose creation fails when its name exists, `cloud/lease.rs`);
//! this decides what an observed lock means.

/// A lock as observed: who holds it and when they last renewed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedLease {
    pub id: String,
    /// The operation id of the run that created it.
    pub op: String,
    pub holder: String,
    pub operation: String,
    /// Seconds since the epoch of the last heartbeat.
    pub heartbeat: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseVerdict {
    Free,
    /// Renewed within the TTL: someone is working on the cluster.
    Busy {
        holder: String,
        operation: String,
        age_s: i64,
    },
    /// Not renewed within the TTL: its holder is dead; the lock may be taken over.
    Stale {
        id: String,
        holder: String,
        age_s: i64,
    },
}

pub fn judge(lease: Option<&ObservedLease>, now: i64, ttl_s: i64) -> LeaseVerdict {
    match lease {
        None => LeaseVerdict::Free,
        Some(l) => {
            // The heartbeat is a tag value (external data): no overflow on a wild one.
            let age_s = now.saturating_sub(l.heartbeat);
            if age_s > ttl_s {
                LeaseVerdict::Stale { id: l.id.clone(), holder: l.holder.clone(), age_s }
            } else {
                LeaseVerdict::Busy { holder: l.holder.clone(), operation: l.operation.clone(), age_s: age_s.max(0) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let l = ObservedLease {
            op: "op-1".into(),
            id: "lt-1".into(),
            holder: "jenkins 42".into(),
            operation: "deploy".into(),
            heartbeat: 1000,
        };
        assert_eq!(judge(None, 5000, 120), LeaseVerdict::Free);
        assert_eq!(
            judge(Some(&l), 1100, 120),
            LeaseVerdict::Busy { holder: "jenkins 42".into(), operation: "deploy".into(), age_s: 100 }
        );
        assert_eq!(
            judge(Some(&l), 1120, 120),
            LeaseVerdict::Busy { holder: "jenkins 42".into(), operation: "deploy".into(), age_s: 120 }
        );
        assert_eq!(
            judge(Some(&l), 1121, 120),
            LeaseVerdict::Stale { id: "lt-1".into(), holder: "jenkins 42".into(), age_s: 121 }
        );
        // A clock behind the holder's is not negative age.
        assert!(matches!(judge(Some(&l), 900, 120), LeaseVerdict::Busy { age_s: 0, .. }));
        // A heartbeat tag far outside any clock neither panics nor keeps the lock forever.
        let wild = |heartbeat| ObservedLease { heartbeat, ..l.clone() };
        assert!(matches!(judge(Some(&wild(i64::MIN)), 1000, 120), LeaseVerdict::Stale { age_s: i64::MAX, .. }));
        assert!(matches!(judge(Some(&wild(i64::MAX)), -1000, 120), LeaseVerdict::Busy { age_s: 0, .. }));
    }
}
