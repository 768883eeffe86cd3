//! Runs work under a cluster's lease: taken atomically, renewed by a heartbeat task that
//! also notices when the lease was lost (taken over after a silence longer than its TTL),
//! released at the end. The executor asks `still_held` before every mutating step: a
//! run that lost its lease stops at that safe point instead of racing the new holder.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cloud::lease::{self, Acquired, Held, LeaseHandle};
use crate::cloud::Cloud;
use crate::error::Error;
use crate::output::Reporter;

pub struct Lease {
    cloud: Cloud,
    handle: LeaseHandle,
    lost: Arc<AtomicBool>,
    beat: tokio::task::JoinHandle<()>,
    ttl: Duration,
    /// The operation's work is critical for the pacer until its switch (`switched`).
    critical: crate::cloud::pace::Critical,
}

/// Who runs this operation, for the lock's tags: an id unique to this run (so that a
/// lock whose creation lost its answer is recognised as ours), and the holder's words.
pub struct Holder {
    pub op: String,
    pub who: String,
    pub operation: &'static str,
}

impl Lease {
    /// Takes the lease of `cluster`, or fails with `Error::Busy` naming its holder.
    #[allow(clippy::too_many_arguments)]
    pub async fn take(
        cloud: &Cloud,
        vpc: &str,
        cluster: &str,
        env: &str,
        holder: &Holder,
        ttl: Duration,
        out: &Reporter,
        label: &str,
    ) -> Result<Lease, Error> {
        let critical = cloud.gate.critical();
        let ttl_s = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let now = crate::clock::unix();
        let acquired = lease::acquire(cloud, vpc, cluster, env, &holder.who, holder.operation, &holder.op, now, ttl_s)
            .await
            .map_err(|e| Error::cloud(format!("{label}: taking the lease of {cluster}"), e))?;
        let handle = match acquired {
            Acquired::Busy { holder, operation, age_s } => {
                return Err(Error::Busy {
                    doing: label.to_owned(),
                    cluster: cluster.to_owned(),
                    operation,
                    holder,
                    age_s,
                })
            }
            Acquired::Taken { handle, took_over } => {
                if let Some(t) = took_over {
                    out.progress(&format!("{label}: took over the lease of {t}: its holder is gone; converging"));
                }
                handle
            }
        };
        let lost = Arc::new(AtomicBool::new(false));
        let beat = {
            let (cloud, h, lost) = (cloud.clone(), handle.clone(), lost.clone());
            // Four beats per TTL: a throttled or failed renewal is retried at the next
            // beat, well before the lease would look stale to another process.
            let every = (ttl / 4).max(Duration::from_millis(250));
            tokio::spawn(crate::cloud::pace::bookkeeping(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Ok(Held::Lost) = lease::renew(&cloud, &h, crate::clock::unix()).await {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }))
        };
        Ok(Lease { cloud: cloud.clone(), handle, lost, beat, ttl, critical })
    }

    /// Renews now and says whether the lease is still ours (a failed read keeps the last
    /// word: the heartbeat's). Marks the lease lost when the lock is gone or another's.
    pub async fn verify(&self) -> bool {
        if let Ok(Held::Lost) = lease::renew(&self.cloud, &self.handle, crate::clock::unix()).await {
            self.lost.store(true, Ordering::SeqCst);
        }
        self.still_held()
    }

    /// The operation's switch is behind it: the rest is bookkeeping (`pace::Critical`).
    pub fn switched(&self) {
        self.critical.done();
    }

    /// False once a heartbeat found the lock gone or replaced.
    pub fn still_held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
    }

    /// Stops the heartbeat and deletes the lock (unless it was lost: then it is not ours).
    pub async fn release(self, out: &Reporter, label: &str) {
        self.beat.abort();
        if !self.still_held() {
            return;
        }
        if let Err(e) = lease::release(&self.cloud, &self.handle).await {
            out.progress(&format!(
                "{label}: could not release the lease (it expires in {} s): {e}",
                self.ttl.as_secs()
            ));
        }
    }
}

/// A fresh id for this run's operation.
pub fn operation_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    format!("op-{:016x}", h.finish())
}
