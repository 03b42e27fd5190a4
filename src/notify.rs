//! systemd's notify protocol for `musicaly pipeline` (deploy/systemd/musicaly-pipeline.service
//! is `Type=notify` with `WatchdogSec`), through the `sd-notify` crate:
//!
//! - `READY=1` once the consumer has joined its group (its first assignment) and
//!   the lake took a probe write ([`probe_lake`], before the consumer starts): a
//!   unit ordered after ours starts only when we really consume, and a start
//!   that cannot join (broker unreachable, wrong listener) runs into
//!   `TimeoutStartSec` and is retried with the unit's backoff.
//! - `STATUS=` every few seconds: rate, consumer lag, partitions (`systemctl
//!   status` shows it), and why the data path is stuck when it is.
//! - `WATCHDOG=1` every quarter of `WATCHDOG_USEC`, but only while the data path
//!   is alive (see `liveness.rs`: a partition with input waiting and no progress
//!   for half of `WATCHDOG_USEC`, or a failed partition actor, stops them; systemd
//!   then kills and restarts the service, which re-reads what was not committed).
//! - `STOPPING=1` as soon as SIGTERM/SIGINT cancels the pipeline (or the pipeline
//!   ends on its own), before the flush and the last commits.
//!
//! Everything is a no-op when `NOTIFY_SOCKET` is unset (not under systemd).

use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use object_store::ObjectStoreExt;
use sd_notify::NotifyState;

use crate::metrics::Metrics;
use crate::sinks::lake::LakeStore;

/// How often the STATUS line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// The stall limit without a watchdog (only the STATUS line reports it then).
const DEFAULT_STALL: Duration = Duration::from_secs(30);
/// The notifier's own tick: how late READY and STOPPING may be.
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the lake at {location} is not writable: {op} {path} failed: {message}")]
    LakeNotWritable {
        location: String,
        op: &'static str,
        path: String,
        message: String,
    },
}

/// Writes and deletes a small object under `_probe/` in the lake, so that a
/// lake the service cannot write (a wrong bucket, missing permissions, a
/// read-only or full disk) fails the start with its reason instead of
/// reporting READY and failing at the first batch.
pub async fn probe_lake(lake: &LakeStore) -> Result<(), NotifyError> {
    let name = format!(
        "{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id()
    );
    let path = lake.root.clone().join("_probe").join(name.as_str());
    let fail = |op, e: object_store::Error| NotifyError::LakeNotWritable {
        location: lake.location.clone(),
        op,
        path: path.to_string(),
        message: e.to_string(),
    };
    lake.store
        .put(&path, object_store::PutPayload::from_static(b"musicaly"))
        .await
        .map_err(|e| fail("put", e))?;
    lake.store
        .delete(&path)
        .await
        .map_err(|e| fail("delete", e))?;
    Ok(())
}

/// The notifier thread; dropping it sends `STOPPING=1` (if not sent yet) and
/// joins it.
pub struct Notifier {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Notifier {
    /// Starts notifying when `NOTIFY_SOCKET` is set; otherwise does nothing.
    /// `stop` is the pipeline's cancellation (SIGTERM/SIGINT).
    pub fn start(metrics: Arc<Metrics>, stop: CancellationToken) -> Notifier {
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::env::var_os("NOTIFY_SOCKET").map(|_| {
            let done = done.clone();
            let watchdog = sd_notify::watchdog_enabled();
            std::thread::Builder::new()
                .name("sd-notify".into())
                .spawn(move || run(&metrics, &stop, &done, watchdog))
                .ok()
        });
        Notifier {
            done,
            thread: thread.flatten(),
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

fn run(metrics: &Metrics, stop: &CancellationToken, done: &AtomicBool, watchdog: Option<Duration>) {
    let stall = watchdog.map_or(DEFAULT_STALL, |w| (w / 2).max(Duration::from_secs(1)));
    let ping_every = watchdog.map(|w| (w / 4).max(Duration::from_millis(100)));
    tracing::info!(watchdog_secs = ?watchdog.map(|w| w.as_secs_f64()), stall_secs = stall.as_secs_f64(), "notifying systemd");
    let mut ready = false;
    let mut stopping = false;
    let mut last_ping: Option<Instant> = None;
    let mut last_status: Option<Instant> = None;
    let mut counted = (Instant::now(), metrics.messages_in.load(Ordering::Relaxed));
    let mut was_stuck: Option<String> = None;
    while !done.load(Ordering::Relaxed) {
        let now = Instant::now();
        if !stopping && stop.is_cancelled() {
            stopping = true;
            send(&[
                NotifyState::Stopping,
                NotifyState::Status("stopping: flushing open files and committing offsets"),
            ]);
        }
        if stopping {
            std::thread::sleep(TICK);
            continue;
        }
        let stuck = metrics.liveness.stuck(now, stall);
        if stuck != was_stuck {
            match &stuck {
                Some(why) => {
                    tracing::error!(reason = %why, "data path stuck: no more watchdog pings (systemd restarts the service after WatchdogSec)")
                }
                None if was_stuck.is_some() => tracing::info!("data path moving again"),
                None => {}
            }
            last_status = None;
            was_stuck = stuck.clone();
        }
        if !ready && metrics.liveness.has_joined() {
            ready = true;
            last_status = None;
            send(&[NotifyState::Ready]);
            tracing::info!("ready: joined the consumer group");
        }
        if let Some(every) = ping_every {
            if stuck.is_none() && last_ping.is_none_or(|t| now.duration_since(t) >= every) {
                send(&[NotifyState::Watchdog]);
                last_ping = Some(now);
            }
        }
        if last_status.is_none_or(|t| now.duration_since(t) >= STATUS_EVERY) {
            let messages = metrics.messages_in.load(Ordering::Relaxed);
            let secs = now.duration_since(counted.0).as_secs_f64();
            let rate = if secs > 0.0 {
                messages.saturating_sub(counted.1) as f64 / secs
            } else {
                0.0
            };
            counted = (now, messages);
            let status = status_line(ready, rate, metrics, stuck.as_deref());
            send(&[NotifyState::Status(&status)]);
            last_status = Some(now);
        }
        std::thread::sleep(TICK);
    }
    if !stopping {
        send(&[NotifyState::Stopping]);
    }
}

fn status_line(ready: bool, rate: f64, metrics: &Metrics, stuck: Option<&str>) -> String {
    if !ready {
        return "joining the consumer group".to_string();
    }
    let lag = metrics
        .consumer_lag_total()
        .map_or_else(|| "unknown".to_string(), |l| l.to_string());
    let mut s = format!(
        "consuming: {rate:.0} msg/s, lag {lag}, {} partitions, {} messages in",
        metrics.liveness.partitions(),
        metrics.messages_in.load(Ordering::Relaxed)
    );
    if let Some(why) = stuck {
        s.push_str("; STUCK: ");
        s.push_str(why);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_says_joining_until_ready_and_stuck_when_stuck() {
        let m = Metrics::default();
        assert_eq!(
            status_line(false, 0.0, &m, None),
            "joining the consumer group"
        );
        let s = status_line(true, 1234.4, &m, None);
        assert!(s.starts_with("consuming: 1234 msg/s, lag unknown"), "{s}");
        m.set_consumer_lag(vec![("t-0".into(), 5), ("t-1".into(), 7)]);
        let s = status_line(true, 0.0, &m, Some("partition t-0 stopped"));
        assert!(
            s.contains("lag 12") && s.ends_with("STUCK: partition t-0 stopped"),
            "{s}"
        );
    }

    #[tokio::test]
    async fn the_probe_writes_and_cleans_up_a_local_lake() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        probe_lake(&lake).await.unwrap();
        assert!(!dir.path().join("_probe").exists(), "probe left behind");
    }

    #[tokio::test]
    async fn the_probe_names_the_lake_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        // A file where the probe's directory goes: even root cannot write there.
        std::fs::write(dir.path().join("_probe"), b"not a directory").unwrap();
        let e = probe_lake(&lake).await.unwrap_err().to_string();
        assert!(e.contains("not writable") && e.contains("_probe"), "{e}");
    }
}
