//! One waiter for every wait of every command: poll until a condition holds, with a
//! deadline, the poll interval, Ctrl-C, and patience with AWS: a read that fails for a
//! transient reason (throttling, a 5xx, no answer) is retried until the deadline instead
//! of failing the command.

use std::time::{Duration, Instant};

use crate::cloud::CloudError;
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::output::Reporter;

/// What one poll saw.
pub enum Poll<T> {
    Ready(T),
    /// Not yet: poll again after the interval.
    Pending,
    /// Not yet: poll again after this long (the check knows when a change can come).
    PendingFor(Duration),
}

pub struct Waiter<'a> {
    pub interval: Duration,
    pub interrupt: &'a Interrupt,
    pub out: &'a Reporter,
    /// What progress lines and errors start with.
    pub label: &'a str,
}

/// `now + timeout`, or far in the future for a timeout too large to add (bounded at
/// parse time anyway; this only keeps the executor from panicking).
pub fn deadline(timeout: Duration) -> Instant {
    crate::clock::deadline(timeout)
}

impl Waiter<'_> {
    /// Polls `check` until it is ready (`Ok(Some)`), the deadline passes (`Ok(None)`), a
    /// permanent error happens, or the command is interrupted.
    pub async fn until<T, F>(&self, deadline: Instant, what: &str, mut check: F) -> Result<Option<T>, Error>
    where
        F: AsyncFnMut() -> Result<Poll<T>, CloudError>,
    {
        let mut failing: u32 = 0;
        loop {
            let mut interval = self.interval;
            match check().await {
                Ok(Poll::Ready(t)) => return Ok(Some(t)),
                Ok(Poll::Pending) => failing = 0,
                Ok(Poll::PendingFor(d)) => {
                    failing = 0;
                    interval = d;
                }
                Err(e) if e.transient && Instant::now() < deadline => {
                    failing = failing.saturating_add(1);
                    // Said once per streak, not per retry.
                    if failing == 1 {
                        self.out.progress(&format!("{}: {what}: {e}; retrying until the deadline", self.label));
                    }
                }
                Err(e) => return Err(Error::cloud(format!("{}: {what}", self.label), e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let nap = interval.min(deadline - now).max(Duration::from_millis(10));
            self.interrupt.sleep(nap, &format!("{}: {what}", self.label)).await?;
        }
    }
}
