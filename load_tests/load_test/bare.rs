//! The ceiling: a bare rdkafka `BaseConsumer` in this process draining a backlog
//! of the same events (poll and count, nothing else), with the pipeline's fetch
//! settings. Its steady rate (between 10 % and 90 % of the messages) is what
//! any consumer of this broker can reach on this machine right now.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};

use crate::proc_tree::round3;
use crate::util::{loadavg, unique};

fn cpu_self() -> f64 {
    // SAFETY: plain data filled by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

pub fn drain(brokers: &str, topics: &[String], total: u64, label: &str) -> anyhow::Result<Value> {
    let load0 = loadavg();
    let cpu0 = cpu_self();
    let t0 = Instant::now();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("ltbare"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "32768")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| anyhow::anyhow!("bare consumer: {e}"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names)
        .map_err(|e| anyhow::anyhow!("subscribe: {e}"))?;
    let (mut n, mut bytes) = (0u64, 0u64);
    let (mut t10, mut t90) = (None, None);
    while n < total {
        if t0.elapsed() > Duration::from_secs(600) {
            return Err(anyhow::anyhow!(
                "bare consumer: {n} of {total} messages after 600 s"
            ));
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            n += 1;
            bytes += m.payload_len() as u64;
            if t10.is_none() && n * 10 >= total {
                t10 = Some(Instant::now());
            }
            if t90.is_none() && n * 10 >= total * 9 {
                t90 = Some(Instant::now());
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let steady = match (t10, t90) {
        (Some(a), Some(b)) if b > a => total as f64 * 0.8 / (b - a).as_secs_f64(),
        _ => total as f64 / wall,
    };
    let cpu = cpu_self() - cpu0;
    Ok(json!({
        "label": label,
        "system": "bare",
        "messages": n,
        "payload_mb": round3(bytes as f64 / 1e6),
        "wall_s": round3(wall),
        "rate": round3(n as f64 / wall),
        "steady_rate": round3(steady),
        "cpu_s": round3(cpu),
        "events_per_cpu_s": round3(n as f64 / cpu.max(1e-3)),
        "loadavg_before": load0,
        "loadavg_after": loadavg(),
    }))
}
