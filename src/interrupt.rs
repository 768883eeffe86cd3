//! SIGINT/SIGTERM as a flag that work checks between steps and while waiting, instead of
//! cancelling futures: a call already sent to AWS (RunInstances, CreateImage, …) always
//! completes and its result is recorded, so cleanup knows exactly what exists. Then the
//! command compensates and exits 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::Error;

#[derive(Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
    signal: Arc<Mutex<&'static str>>,
}

impl Interrupt {
    /// Listens for SIGINT and SIGTERM for the rest of the process.
    pub fn install() -> Self {
        let i = Self::default();
        let me = i.clone();
        tokio::spawn(async move {
            let sig = wait_for_signal().await;
            me.trigger(sig);
        });
        i
    }

    /// Marks the run as interrupted (the signal handler; also tests).
    pub fn trigger(&self, signal: &'static str) {
        if let Ok(mut s) = self.signal.lock() {
            *s = signal;
        }
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// `Err(Interrupted)` once a signal arrived; `what` says where the run stopped.
    pub fn check(&self, what: &str) -> Result<(), Error> {
        if self.is_set() {
            let sig = self.signal.lock().map(|s| *s).unwrap_or("a signal");
            Err(Error::Interrupted(format!("{what}: interrupted by {sig}")))
        } else {
            Ok(())
        }
    }

    /// Sleeps, waking early (with `Err`) when a signal arrives.
    pub async fn sleep(&self, d: Duration, what: &str) -> Result<(), Error> {
        let notified = self.notify.notified();
        self.check(what)?;
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = notified => {}
        }
        self.check(what)
    }
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_wakes_a_sleeper_and_fails_checks() {
        let i = Interrupt::default();
        assert!(i.check("x").is_ok());
        let j = i.clone();
        let sleeper = tokio::spawn(async move { j.sleep(Duration::from_secs(3600), "waiting").await });
        tokio::task::yield_now().await;
        i.trigger("SIGTERM");
        let r = tokio::time::timeout(Duration::from_secs(5), sleeper).await.expect("woken").expect("joined");
        let msg = r.expect_err("interrupted").to_string();
        assert_eq!(msg, "waiting: interrupted by SIGTERM");
        assert_eq!(i.check("x").map_err(|e| e.exit_code()), Err(130));
    }
}
