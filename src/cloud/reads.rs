//! What a cluster is made of (its ELB, release groups and release launch templates), read
//! for many services at once by group commit: while one batch of reads is in flight,
//! every service that asks waits, and the next batch reads all of them together. A lone
//! service costs what it always did (three calls); 100 services rolling at once cost a
//! few calls per 20 or 50 of them instead of three each, which leaves the classic ELB and
//! Auto Scaling budgets (40, 10/s) to the writes that create the new releases (issue 13).
//!
//! A batch starts after every request in it was made, so each answer is as fresh as a
//! read of its own would be: a service that took its lease reads after taking it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{elb, groups, launch_templates, Cloud, CloudError, CloudResult};
use crate::domain::cluster::{ObservedElb, ObservedGroup, TemplateOf};
use crate::domain::ClusterName;

/// A cluster as read, without the ELB's instance health (read per ELB afterwards).
#[derive(Clone, Debug, Default)]
pub struct ClusterReads {
    pub elb: Option<ObservedElb>,
    pub groups: Vec<ObservedGroup>,
    pub launch_templates: BTreeMap<u16, TemplateOf>,
}

struct Waiter {
    cluster: ClusterName,
    elb: String,
    answer: oneshot::Sender<CloudResult<ClusterReads>>,
}

/// The queue of services waiting to be read, and the right to read the next batch.
#[derive(Default)]
pub struct Batcher {
    queue: Mutex<Vec<Waiter>>,
    reading: tokio::sync::Mutex<()>,
}

impl Batcher {
    /// `cluster` behind `elb`, read in the next batch. Whoever gets the right to read
    /// first reads the whole queue (its own request included) and answers everyone in it.
    pub async fn read(&self, cloud: &Cloud, cluster: &ClusterName, elb: &str) -> CloudResult<ClusterReads> {
        self.read_with(cluster, elb, async |asked| read_batch(cloud, &asked).await).await
    }

    /// `read` with the batch's reads given (tests give their own).
    async fn read_with<F>(&self, cluster: &ClusterName, elb: &str, reads: F) -> CloudResult<ClusterReads>
    where
        F: AsyncFn(Vec<(ClusterName, String)>) -> CloudResult<Vec<ClusterReads>>,
    {
        let mut answer = self.enqueue(cluster, elb);
        loop {
            tokio::select! {
                biased;
                r = &mut answer => match r {
                    Ok(r) => return r,
                    // The reader of our batch was cancelled (its command stopped): ask again.
                    Err(_) => answer = self.enqueue(cluster, elb),
                },
                _guard = self.reading.lock() => {
                    let batch = std::mem::take(&mut *self.lock_queue());
                    // Empty: the previous reader took our request, and its answer is ready.
                    if !batch.is_empty() {
                        let asked = batch.iter().map(|w| (w.cluster.clone(), w.elb.clone())).collect();
                        let r = reads(asked).await;
                        answer_all(batch, r);
                    }
                }
            }
        }
    }

    fn enqueue(&self, cluster: &ClusterName, elb: &str) -> oneshot::Receiver<CloudResult<ClusterReads>> {
        let (tx, rx) = oneshot::channel();
        self.lock_queue().push(Waiter { cluster: cluster.clone(), elb: elb.to_owned(), answer: tx });
        rx
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiter>> {
        // A panic while holding this lock cannot leave the queue half-changed (push and
        // take are single operations), so a poisoned lock is still a good queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Each waiter of the batch gets its own reads (in the batch's order), or the error.
fn answer_all(batch: Vec<Waiter>, reads: CloudResult<Vec<ClusterReads>>) {
    match reads {
        Ok(reads) => {
            let mut reads = reads.into_iter();
            for w in batch {
                // A waiter that went away (its command stopped) needs no answer.
                let _ = w.answer.send(Ok(reads.next().unwrap_or_default()));
            }
        }
        Err(e) => {
            for w in batch {
                let _ = w.answer.send(Err(e.clone()));
            }
        }
    }
}

/// The reads of `asked`, in its order. One cluster: by its own name (what a single
/// service has always cost). More: the ELBs by name, the groups and the launch templates
/// by a filter with every cluster, the three services' calls at the same time.
async fn read_batch(cloud: &Cloud, asked: &[(ClusterName, String)]) -> Result<Vec<ClusterReads>, CloudError> {
    if let [(cluster, elb_name)] = asked {
        let (elb, groups, launch_templates) = tokio::try_join!(
            elb::describe_one(cloud, elb_name),
            groups::describe_cluster(cloud, cluster, elb_name),
            launch_templates::of_cluster(cloud, cluster),
        )?;
        return Ok(vec![ClusterReads { elb, groups, launch_templates }]);
    }
    let mut elb_names: Vec<&str> = asked.iter().map(|(_, e)| e.as_str()).collect();
    elb_names.sort_unstable();
    elb_names.dedup();
    let mut clusters: Vec<&str> = asked.iter().map(|(c, _)| c.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    let (elbs, groups_by, templates_by) = tokio::try_join!(
        elb::describe_many(cloud, &elb_names),
        groups::describe_clusters(cloud, &clusters),
        launch_templates::of_clusters(cloud, &clusters),
    )?;
    Ok(asked
        .iter()
        .map(|(cluster, elb_name)| ClusterReads {
            elb: elbs.get(elb_name).cloned(),
            groups: groups::releases_of(&groups_by, cluster, elb_name),
            launch_templates: launch_templates::releases_of(&templates_by, cluster),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::domain::{EnvName, ServiceName};

    fn cluster(s: &str) -> ClusterName {
        ClusterName::new(&ServiceName::parse(s).unwrap(), &EnvName::parse("prod").unwrap())
    }

    /// Each batch read: who read it, and the clusters in it.
    type Batches = Arc<Mutex<Vec<(String, Vec<String>)>>>;

    /// A fake batch read: records who read which batch, waits for a permit while `gate`
    /// is set for that batch, and answers each cluster with its own ELB name.
    #[derive(Clone, Default)]
    struct Fake {
        batches: Batches,
        gates: Arc<Mutex<Vec<Arc<Semaphore>>>>,
        fail: bool,
    }

    impl Fake {
        fn gate_next(&self) -> Arc<Semaphore> {
            let g = Arc::new(Semaphore::new(0));
            self.gates.lock().unwrap().push(g.clone());
            g
        }
        fn batches(&self) -> Vec<(String, Vec<String>)> {
            self.batches.lock().unwrap().clone()
        }
        async fn read(&self, reader: &str, asked: Vec<(ClusterName, String)>) -> CloudResult<Vec<ClusterReads>> {
            let n = {
                let mut b = self.batches.lock().unwrap();
                b.push((reader.to_owned(), asked.iter().map(|(c, _)| c.as_str().to_owned()).collect()));
                b.len() - 1
            };
            let gate = self.gates.lock().unwrap().get(n).cloned();
            if let Some(g) = gate {
                let _permit = g.acquire().await;
            }
            if self.fail {
                return Err(CloudError::other("DescribeLoadBalancers", "Rate exceeded"));
            }
            let elb =
                |e: &str| Some(ObservedElb { name: e.to_owned(), dns: String::new(), health_target: String::new() });
            Ok(asked.iter().map(|(_, e)| ClusterReads { elb: elb(e), ..Default::default() }).collect())
        }
    }

    fn spawn(b: &Arc<Batcher>, fake: &Fake, svc: &'static str) -> tokio::task::JoinHandle<CloudResult<ClusterReads>> {
        let (b, fake) = (b.clone(), fake.clone());
        // Local tasks: the batch's reads are an async closure, which is not Send.
        tokio::task::spawn_local(async move {
            b.read_with(&cluster(svc), &format!("{svc}-prod"), async |asked| fake.read(svc, asked).await).await
        })
    }

    async fn until(mut done: impl FnMut() -> bool) {
        while !done() {
            tokio::task::yield_now().await;
        }
    }

    fn queued(b: &Batcher) -> usize {
        b.lock_queue().len()
    }

    #[tokio::test]
    async fn services_asking_while_a_batch_is_read_share_the_next_batch() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Arc::new(Batcher::default()), Fake::default());
                let first = fake.gate_next();
                let a = spawn(&b, &fake, "a");
                until(|| fake.batches().len() == 1).await;
                let rest: Vec<_> = ["b", "c", "d", "e"].into_iter().map(|s| spawn(&b, &fake, s)).collect();
                until(|| queued(&b) == 4).await;
                first.add_permits(1);
                assert_eq!(a.await.unwrap().unwrap().elb.unwrap().name, "a-prod");
                for (h, s) in rest.into_iter().zip(["b", "c", "d", "e"]) {
                    // Each gets its own cluster's reads out of the shared batch.
                    assert_eq!(h.await.unwrap().unwrap().elb.unwrap().name, format!("{s}-prod"));
                }
                let batches: Vec<Vec<String>> = fake.batches().into_iter().map(|(_, c)| c).collect();
                assert_eq!(
                    batches,
                    vec![
                        vec!["a-prod".to_owned()],
                        vec!["b-prod".into(), "c-prod".into(), "d-prod".into(), "e-prod".into()]
                    ]
                );
            })
            .await;
    }

    #[tokio::test]
    async fn a_failed_batch_read_fails_every_service_in_it() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Arc::new(Batcher::default()), Fake { fail: true, ..Default::default() });
                let first = fake.gate_next();
                let a = spawn(&b, &fake, "a");
                until(|| fake.batches().len() == 1).await;
                let (x, y) = (spawn(&b, &fake, "x"), spawn(&b, &fake, "y"));
                until(|| queued(&b) == 2).await;
                first.add_permits(1);
                for h in [a, x, y] {
                    let e = h.await.unwrap().unwrap_err();
                    assert_eq!(e.message, "Rate exceeded");
                }
                assert_eq!(fake.batches().len(), 2);
            })
            .await;
    }

    #[tokio::test]
    async fn a_reader_that_stops_leaves_its_batch_to_be_read_again() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Arc::new(Batcher::default()), Fake::default());
                let (first, second) = (fake.gate_next(), fake.gate_next());
                let a = spawn(&b, &fake, "a");
                until(|| fake.batches().len() == 1).await;
                let x = spawn(&b, &fake, "x");
                let y = spawn(&b, &fake, "y");
                until(|| queued(&b) == 2).await;
                first.add_permits(1);
                a.await.unwrap().unwrap();
                // x or y reads the batch of both; its command stops (the task is dropped) mid-read.
                until(|| fake.batches().len() == 2).await;
                let (reader, batch) = fake.batches()[1].clone();
                assert_eq!(batch.len(), 2);
                let (stopped, other, name) = if reader == "x" { (x, y, "y") } else { (y, x, "x") };
                stopped.abort();
                assert!(stopped.await.unwrap_err().is_cancelled());
                second.add_permits(1);
                // The other asks again and is read, alone, in a batch of its own.
                assert_eq!(other.await.unwrap().unwrap().elb.unwrap().name, format!("{name}-prod"));
                assert_eq!(fake.batches()[2], (name.to_owned(), vec![format!("{name}-prod")]));
            })
            .await;
    }
}
