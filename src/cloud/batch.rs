//! Group commit: while one batch of requests is in flight, every caller that asks waits,
//! and the next batch carries all of them in as few AWS calls as the API allows. A lone
//! caller costs one call, as it would alone; many at once share calls instead of queueing
//! for tokens one by one (issue 13: 100 services rolling at once). Used for the reads of
//! clusters (`reads.rs`) and for group tags (`groups::tag_many`).
//!
//! A batch starts after every request in it was made, so its answers are as fresh as
//! calls of their own would be (a read after the lease is taken is read after it).

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{CloudError, CloudResult};

struct Waiter<Q, A> {
    request: Q,
    answer: oneshot::Sender<CloudResult<A>>,
}

/// The queue of callers waiting, and the right to send the next batch.
pub struct GroupCommit<Q, A> {
    queue: Mutex<Vec<Waiter<Q, A>>>,
    sending: tokio::sync::Mutex<()>,
}

impl<Q, A> Default for GroupCommit<Q, A> {
    fn default() -> Self {
        Self { queue: Mutex::new(Vec::new()), sending: tokio::sync::Mutex::new(()) }
    }
}

impl<Q: Clone, A> GroupCommit<Q, A> {
    /// `request`'s answer, from the next batch. Whoever gets the right to send first
    /// sends the whole queue (its own request included) with `send`, which answers each
    /// request of the batch in order, and hands everyone their answer.
    pub async fn submit<F>(&self, request: Q, send: F) -> CloudResult<A>
    where
        F: AsyncFn(Vec<Q>) -> Vec<CloudResult<A>>,
    {
        self.submit_after(request, async || (), async |(), batch| send(batch).await).await
    }

    /// `submit`, where the sender first awaits `ready` (e.g. the token of the call) and
    /// only then takes the queue: whoever queued while it waited rides along.
    pub async fn submit_after<R, P, F>(&self, request: Q, ready: P, send: F) -> CloudResult<A>
    where
        P: AsyncFn() -> R,
        F: AsyncFn(R, Vec<Q>) -> Vec<CloudResult<A>>,
    {
        let mut answer = self.enqueue(request.clone());
        loop {
            tokio::select! {
                biased;
                r = &mut answer => match r {
                    Ok(r) => return r,
                    // The sender of our batch was cancelled (its command stopped): ask again.
                    Err(_) => answer = self.enqueue(request.clone()),
                },
                _guard = self.sending.lock() => {
                    // Empty: the previous sender took our request, and its answer is ready.
                    if self.lock_queue().is_empty() {
                        continue;
                    }
                    let r = ready().await;
                    // Still not empty: only the holder of `sending` takes the queue.
                    let batch = std::mem::take(&mut *self.lock_queue());
                    let requests = batch.iter().map(|w| w.request.clone()).collect();
                    let mut answers = send(r, requests).await.into_iter();
                    for w in batch {
                        let a = answers.next().unwrap_or_else(|| {
                            Err(CloudError::other("batch", "no answer for this request in its batch"))
                        });
                        // A caller that went away (its command stopped) needs no answer.
                        let _ = w.answer.send(a);
                    }
                }
            }
        }
    }

    /// `f` folded over the requests queued for the next batch (how much it would carry).
    pub fn fold_queued<T>(&self, init: T, f: impl FnMut(T, &Q) -> T) -> T {
        self.lock_queue().iter().map(|w| &w.request).fold(init, f)
    }

    fn enqueue(&self, request: Q) -> oneshot::Receiver<CloudResult<A>> {
        let (tx, rx) = oneshot::channel();
        self.lock_queue().push(Waiter { request, answer: tx });
        rx
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiter<Q, A>>> {
        // A panic while holding this lock cannot leave the queue half-changed (push and
        // take are single operations), so a poisoned lock is still a good queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every request of a batch answered with the same result of one call for all of them.
pub fn all<A: Clone>(n: usize, r: CloudResult<Vec<A>>) -> Vec<CloudResult<A>> {
    match r {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) => vec![Err(e); n],
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    /// Each batch sent: who sent it, and the requests in it.
    type Batches = Arc<Mutex<Vec<(String, Vec<String>)>>>;

    /// A fake AWS call for a batch: records who sent which batch, waits for a permit
    /// while a gate is set for that batch, and answers each request `<request>-answer`.
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
        async fn send(&self, sender: &str, batch: Vec<String>) -> Vec<CloudResult<String>> {
            let n = {
                let mut b = self.batches.lock().unwrap();
                b.push((sender.to_owned(), batch.clone()));
                b.len() - 1
            };
            let gate = self.gates.lock().unwrap().get(n).cloned();
            if let Some(g) = gate {
                let _permit = g.acquire().await;
            }
            let r = if self.fail {
                Err(CloudError::other("DescribeLoadBalancers", "Rate exceeded"))
            } else {
                Ok(batch.iter().map(|q| format!("{q}-answer")).collect())
            };
            all(batch.len(), r)
        }
    }

    type Commit = Arc<GroupCommit<String, String>>;

    fn spawn(b: &Commit, fake: &Fake, who: &'static str) -> tokio::task::JoinHandle<CloudResult<String>> {
        let (b, fake) = (b.clone(), fake.clone());
        // Local tasks: the batch's call is an async closure, which is not Send.
        tokio::task::spawn_local(
            async move { b.submit(who.to_owned(), async |batch| fake.send(who, batch).await).await },
        )
    }

    async fn until(mut done: impl FnMut() -> bool) {
        while !done() {
            tokio::task::yield_now().await;
        }
    }

    fn queued(b: &Commit) -> usize {
        b.lock_queue().len()
    }

    #[tokio::test]
    async fn callers_asking_while_a_batch_is_in_flight_share_the_next_batch() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Commit::default(), Fake::default());
                let first = fake.gate_next();
                let a = spawn(&b, &fake, "a");
                until(|| fake.batches().len() == 1).await;
                let rest: Vec<_> = ["b", "c", "d", "e"].into_iter().map(|s| spawn(&b, &fake, s)).collect();
                until(|| queued(&b) == 4).await;
                first.add_permits(1);
                assert_eq!(a.await.unwrap().unwrap(), "a-answer");
                for (h, s) in rest.into_iter().zip(["b", "c", "d", "e"]) {
                    // Each gets its own answer out of the shared batch.
                    assert_eq!(h.await.unwrap().unwrap(), format!("{s}-answer"));
                }
                let batches: Vec<Vec<String>> = fake.batches().into_iter().map(|(_, c)| c).collect();
                assert_eq!(batches, vec![vec!["a"], vec!["b", "c", "d", "e"]]);
            })
            .await;
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_caller_in_it() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Commit::default(), Fake { fail: true, ..Default::default() });
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
    async fn a_sender_that_stops_leaves_its_batch_to_be_sent_again() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Commit::default(), Fake::default());
                let (first, second) = (fake.gate_next(), fake.gate_next());
                let a = spawn(&b, &fake, "a");
                until(|| fake.batches().len() == 1).await;
                let x = spawn(&b, &fake, "x");
                let y = spawn(&b, &fake, "y");
                until(|| queued(&b) == 2).await;
                first.add_permits(1);
                a.await.unwrap().unwrap();
                // x or y sends the batch of both; its command stops (the task is dropped)
                // while the call is in flight.
                until(|| fake.batches().len() == 2).await;
                let (sender, batch) = fake.batches()[1].clone();
                assert_eq!(batch.len(), 2);
                let (stopped, other, name) = if sender == "x" { (x, y, "y") } else { (y, x, "x") };
                stopped.abort();
                assert!(stopped.await.unwrap_err().is_cancelled());
                second.add_permits(1);
                // The other asks again and is sent, alone, in a batch of its own.
                assert_eq!(other.await.unwrap().unwrap(), format!("{name}-answer"));
                assert_eq!(fake.batches()[2], (name.to_owned(), vec![name.to_owned()]));
            })
            .await;
    }

    #[tokio::test]
    async fn callers_asking_while_the_sender_waits_for_its_token_ride_along() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (b, fake) = (Commit::default(), Fake::default());
                let token = Arc::new(Semaphore::new(0));
                let submit = |who: &'static str| {
                    let (b, fake, token) = (b.clone(), fake.clone(), token.clone());
                    tokio::task::spawn_local(async move {
                        let ready = async || drop(token.acquire().await);
                        b.submit_after(who.to_owned(), ready, async |(), batch| fake.send(who, batch).await).await
                    })
                };
                let a = submit("a");
                // a holds the right to send and waits for its token; b and c queue.
                until(|| b.sending.try_lock().is_err()).await;
                let (x, y) = (submit("b"), submit("c"));
                until(|| queued(&b) == 3).await;
                token.add_permits(1);
                for (h, s) in [(a, "a"), (x, "b"), (y, "c")] {
                    assert_eq!(h.await.unwrap().unwrap(), format!("{s}-answer"));
                }
                let batches: Vec<Vec<String>> = fake.batches().into_iter().map(|(_, c)| c).collect();
                assert_eq!(batches, vec![vec!["a", "b", "c"]], "one call for the three");
            })
            .await;
    }

    #[test]
    fn one_call_answers_each_request_or_fails_them_all() {
        let ok: Vec<CloudResult<u8>> = all(2, Ok(vec![1, 2]));
        assert_eq!(ok.into_iter().map(|r| r.unwrap()).collect::<Vec<_>>(), vec![1, 2]);
        let failed = all::<u8>(3, Err(CloudError::other("X", "m")));
        assert_eq!(failed.len(), 3);
        assert!(failed.iter().all(|r| r.as_ref().is_err_and(|e| e.message == "m")));
    }
}
