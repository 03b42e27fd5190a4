//! Event → visible in the live view: polls `GET /api/live` of each pipeline's web
//! server and, whenever its `latest_event_ms` (the newest event time included in
//! the live numbers) moves forward, records now minus that time. One sample per
//! update of the view, not per event; precision is the poll interval (100 ms).
//!
//! Without the field (a build of the pipeline from before it existed) nothing
//! is recorded and the result says so, rather than inventing a number.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::lake_watch::Latencies;
use crate::util::{http_get, now_ms};

pub const UNAVAILABLE: &str = "live view latency unavailable: /api/live has no latest_event_ms";

pub struct Live {
    pub lat: Mutex<Latencies>,
    /// Some(reason) once a response lacked the field.
    pub missing: Mutex<Option<String>>,
    pub from_ms: AtomicI64,
    stop: AtomicBool,
}

impl Live {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
    /// Whether any response had the field.
    pub fn available(&self) -> bool {
        self.missing.lock().map(|m| m.is_none()).unwrap_or(false)
    }
}

pub fn spawn(ports: Vec<u16>) -> (Arc<Live>, JoinHandle<()>) {
    let l = Arc::new(Live {
        lat: Mutex::new(Latencies::empty()),
        missing: Mutex::new(None),
        from_ms: AtomicI64::new(i64::MAX),
        stop: AtomicBool::new(false),
    });
    let l2 = l.clone();
    let h = std::thread::spawn(move || {
        let mut last = vec![i64::MIN; ports.len()];
        while !l2.stop.load(Ordering::Relaxed) {
            for (k, port) in ports.iter().enumerate() {
                let Ok(body) = http_get(*port, "/api/live") else {
                    continue;
                };
                let now = now_ms();
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                match v.get("latest_event_ms").and_then(|x| x.as_i64()) {
                    Some(t) => {
                        if t > last[k] && t >= l2.from_ms.load(Ordering::Relaxed) {
                            if let Ok(mut lat) = l2.lat.lock() {
                                lat.record(t, now - t);
                            }
                        }
                        last[k] = last[k].max(t);
                    }
                    None => {
                        if let Ok(mut m) = l2.missing.lock() {
                            m.get_or_insert_with(|| UNAVAILABLE.to_string());
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (l, h)
}
