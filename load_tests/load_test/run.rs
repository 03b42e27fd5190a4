//! One measured run: fresh topics, the system started and warmed up (it has
//! made at least one row of every table durable), then the open-loop schedule
//! from `t0`, sampled every second (lag, memory and CPU of the process tree,
//! producer and lake progress), then a drain until every produced event is
//! durable (or a timeout), then the stop.
//!
//! The ramp rule is applied at each step's end: the step is *bounded* unless
//! the lag grew through its second half by more than 5 % of the rate per second
//! while above what one durability interval explains. The ramp stops at the
//! first unbounded step or when the producer cannot keep the schedule.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::{json, Value};

use crate::events::Pool;
use crate::lag::Lag;
use crate::lake_watch::{self, histogram, Latencies, Protocol};
use crate::live;
use crate::proc_tree::{self, round3};
use crate::producer::{self, Progress, Step};
use crate::systems::{self, Kind, Setup};
use crate::util::{loadavg, now_ms, unique};

pub const TABLES: [&str; 4] = [
    "page_view_events",
    "listen_events",
    "auth_events",
    "status_change_events",
];

pub struct Spec {
    pub label: String,
    pub kind: Kind,
    pub steps: Vec<Step>,
    /// Stop at the first unbounded step (a ramp) instead of running every step.
    pub ramp: bool,
    pub partitions: i32,
    /// Pipelines in the group (musicaly only), with their `taskset -c` lists.
    pub processes: usize,
    pub pin: Vec<String>,
    /// Scale-out's rebalance run: (seconds after t0, cpus) of pipelines that join.
    pub joins: Vec<(f64, Option<String>)>,
    pub p99_bound_ms: u64,
    pub warmup_timeout: Duration,
    pub drain_timeout: Duration,
}

/// One sample of the run's series (t in seconds since t0).
#[derive(Clone, Copy, Default)]
struct Sample {
    t: f64,
    target_rate: f64,
    sent: u64,
    durable: u64,
    lag: i64,
    rss_mb: f64,
    cpu_s: f64,
}

pub fn create_topics(brokers: &str, topics: &[String], partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| anyhow::anyhow!("admin client: {e}"))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for r in rt
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .map_err(|e| anyhow::anyhow!("create topics: {e}"))?
    {
        r.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
    }
    Ok(())
}

fn pct(h: &Histogram<u64>, q: f64) -> Value {
    if h.is_empty() {
        Value::Null
    } else {
        json!(h.value_at_quantile(q))
    }
}

/// p50/p90/p99/p99.9/max (ms) and the count of a histogram.
pub fn summary(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50_ms": pct(h, 0.5), "p90_ms": pct(h, 0.9), "p99_ms": pct(h, 0.99),
        "p999_ms": pct(h, 0.999),
        "max_ms": if h.is_empty() { Value::Null } else { json!(h.max()) },
    })
}

/// Per second of send time: [t, p50, p99, max] (ms), t relative to `t0`.
fn series(l: &Latencies, t0: i64) -> Vec<[f64; 4]> {
    l.by_second
        .iter()
        .map(|(s, h)| {
            [
                (s * 1000 - t0) as f64 / 1000.0,
                h.value_at_quantile(0.5) as f64,
                h.value_at_quantile(0.99) as f64,
                h.max() as f64,
            ]
        })
        .collect()
}

/// Merged histogram of the send seconds in [from, to) (epoch ms).
fn window(l: &Latencies, from: i64, to: i64) -> Histogram<u64> {
    let mut h = histogram();
    for (_, x) in l
        .by_second
        .range(from.div_euclid(1000)..to.div_euclid(1000))
    {
        let _ = h.add(x);
    }
    h
}

/// Sends one event of each table every second until `stop`, stamped with the
/// current time (older than t0: the watcher counts them as warm-up).
fn warm_up(
    brokers: &str,
    pool: &Pool,
    topics: &[String; 4],
    until: impl Fn() -> bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let p = producer::client(brokers)?;
    let firsts: Vec<usize> = (0..4)
        .filter_map(|t| pool.events.iter().position(|e| e.table == t))
        .collect();
    let mut buf = Vec::new();
    let t0 = Instant::now();
    while !until() {
        if t0.elapsed() > timeout {
            return Err(anyhow::anyhow!(
                "not warm after {timeout:?} (no durable row of every table)"
            ));
        }
        for &i in &firsts {
            let e = &pool.events[i];
            pool.render(e, now_ms(), &mut buf);
            producer::send(&p, &topics[e.table], e.key, &buf)?;
        }
        use rdkafka::producer::Producer;
        let _ = p.flush(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(1000));
    }
    Ok(())
}

pub fn run(setup: &Setup, spec: &Spec, pool: &Arc<Pool>, work: &Path) -> anyhow::Result<Value> {
    let prefix = unique("lt");
    let topics: [String; 4] = TABLES.map(|t| format!("{prefix}.{t}"));
    create_topics(&setup.brokers, &topics, spec.partitions)?;
    let dir = work.join(&spec.label);
    let _ = std::fs::remove_dir_all(&dir);
    let load0 = loadavg();
    let started = Instant::now();
    let mut sys = systems::start(spec.kind, setup, &dir, &topics, spec.processes, &spec.pin)?;
    let protocol = match spec.kind {
        Kind::Musicaly => Protocol::Musicaly,
        Kind::Spark => Protocol::Spark,
    };
    let (watch, watch_h) = lake_watch::spawn(sys.lake.clone(), TABLES, protocol);
    let (live, live_h) = live::spawn(sys.ports.clone());

    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or(ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb.set_message(format!("{}: starting and warming up", spec.label));
    let warm = warm_up(
        &setup.brokers,
        pool,
        &topics,
        || (0..4).all(|i| watch.warm_by_table[i].load(Ordering::Relaxed) > 0),
        spec.warmup_timeout,
    );
    if let Err(e) = warm.and_then(|_| sys.check()) {
        pb.finish_and_clear();
        watch.stop();
        live.stop();
        return Err(anyhow::anyhow!("{}: {e}", spec.label));
    }
    let startup_s = started.elapsed().as_secs_f64();
    let lag = Lag::new(&setup.brokers, &topics, sys.committed())?;

    let t0 = now_ms() + 500;
    watch.from_ms.store(t0, Ordering::Relaxed);
    live.from_ms.store(t0, Ordering::Relaxed);
    let progress = Arc::new(Progress::default());
    let threads0 = proc_tree::threads(&sys.pids);
    let (_, cpu0) = proc_tree::usage(&sys.pids);
    let producer_h = producer::spawn(
        &setup.brokers,
        pool.clone(),
        topics.clone(),
        spec.steps.clone(),
        t0,
        progress.clone(),
    )?;
    let mut samples: Vec<Sample> = Vec::new();
    let mut steps_out: Vec<Value> = Vec::new();
    let mut step_ends = Vec::new();
    let mut acc = 0.0;
    for s in &spec.steps {
        acc += s.secs;
        step_ends.push(acc);
    }
    let mut joins = spec.joins.clone();
    let mut join_times = Vec::new();
    let mut next_step = 0usize;
    let mut drain_from: Option<Instant> = None;
    let mut peak_rss = 0f64;
    let mut failure = None;
    let tick = Duration::from_secs(1);
    let mut next = Instant::now() + tick;
    loop {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += tick;
        if let Err(e) = sys.check() {
            failure = Some(e);
            progress.stop.store(true, Ordering::Relaxed);
            break;
        }
        let t = (now_ms() - t0) as f64 / 1000.0;
        let (rss, cpu) = proc_tree::usage(&sys.pids);
        peak_rss = peak_rss.max(rss / 1e6);
        let s = Sample {
            t,
            target_rate: progress.rate.load(Ordering::Relaxed) as f64,
            sent: progress.sent.load(Ordering::Relaxed),
            durable: watch.durable(),
            lag: lag.lag().unwrap_or(-1),
            rss_mb: rss / 1e6,
            cpu_s: cpu - cpu0,
        };
        samples.push(s);
        if let Some(&(at, _)) = joins.first() {
            if t >= at {
                let (at, cpus) = joins.remove(0);
                sys.add_pipeline(setup, cpus.as_deref())?;
                join_times.push(at);
            }
        }
        let p99 = watch
            .lat
            .lock()
            .map(|l| l.all.value_at_quantile(0.99))
            .unwrap_or(0);
        pb.set_message(format!(
            "{}: step {}/{} rate {:.0}/s sent {} durable {} lag {} p99 {:.1} s rss {:.0} MB cpu {:.1} s{}",
            spec.label,
            (next_step + 1).min(spec.steps.len()),
            spec.steps.len(),
            s.target_rate,
            s.sent,
            s.durable,
            s.lag,
            p99 as f64 / 1000.0,
            s.rss_mb,
            s.cpu_s,
            if drain_from.is_some() { " (draining)" } else { "" }
        ));
        // The end of a step: judge it.
        while next_step < spec.steps.len() && t >= step_ends[next_step] && drain_from.is_none() {
            let st = spec.steps[next_step];
            let begin = step_ends[next_step] - st.secs;
            let v = judge(&samples, begin, step_ends[next_step], st, setup.commit_secs);
            let bounded = v["bounded"].as_bool().unwrap_or(false);
            let kept = v["producer_kept_up"].as_bool().unwrap_or(false);
            steps_out.push(v);
            next_step += 1;
            if spec.ramp && (!bounded || !kept) && next_step < spec.steps.len() {
                progress.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        if producer_h.is_finished() && drain_from.is_none() {
            drain_from = Some(Instant::now());
        }
        if let Some(d) = drain_from {
            let sent = progress.sent.load(Ordering::Relaxed);
            if watch.durable() >= sent || d.elapsed() > spec.drain_timeout {
                break;
            }
        }
    }
    let end_ms = now_ms();
    let threads1 = proc_tree::threads(&sys.pids);
    let (_, cpu1) = proc_tree::usage(&sys.pids);
    let stop_s = sys.stop(Duration::from_secs(60));
    watch.stop();
    live.stop();
    let _ = watch_h.join();
    let _ = live_h.join();
    pb.finish_and_clear();
    let produced = match producer_h.join() {
        Ok(Ok(())) => progress.sent.load(Ordering::Relaxed),
        Ok(Err(e)) => return Err(anyhow::anyhow!("{}: producer: {e}", spec.label)),
        Err(_) => return Err(anyhow::anyhow!("{}: producer thread panicked", spec.label)),
    };
    if let Some(f) = failure {
        return Err(anyhow::anyhow!("{}: {f}", spec.label));
    }
    // Steps not judged (the run ended in a drain): judge the ones produced.
    while next_step < spec.steps.len() && !progress.stop.load(Ordering::Relaxed) {
        let st = spec.steps[next_step];
        let begin = step_ends[next_step] - st.secs;
        steps_out.push(judge(
            &samples,
            begin,
            step_ends[next_step],
            st,
            setup.commit_secs,
        ));
        next_step += 1;
    }
    let durable = watch.durable();
    let lat = watch
        .lat
        .lock()
        .map_err(|_| anyhow::anyhow!("watcher poisoned"))?;
    // p99 of each judged step, on the events sent in it.
    let mut begin = 0.0;
    for (k, v) in steps_out.iter_mut().enumerate() {
        let end = step_ends[k];
        let h = window(
            &lat,
            t0 + (begin * 1000.0) as i64,
            t0 + (end * 1000.0) as i64,
        );
        let p99 = if h.is_empty() {
            u64::MAX
        } else {
            h.value_at_quantile(0.99)
        };
        v["lake_p99_ms"] = pct(&h, 0.99);
        let ok = v["bounded"].as_bool().unwrap_or(false)
            && v["producer_kept_up"].as_bool().unwrap_or(false)
            && p99 <= spec.p99_bound_ms;
        v["sustained"] = json!(ok);
        begin = end;
    }
    let sustained = steps_out
        .iter()
        .filter(|v| v["sustained"].as_bool().unwrap_or(false))
        .filter_map(|v| v["rate"].as_f64())
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let cpu = cpu1 - cpu0;
    let wall = (end_ms - t0) as f64 / 1000.0;
    let live_v = if sys.ports.is_empty() {
        json!({"unavailable": "the system has no live view"})
    } else if live.available() {
        let l = live
            .lat
            .lock()
            .map_err(|_| anyhow::anyhow!("live poisoned"))?;
        json!({"latency": summary(&l.all), "series_s_p50_p99_max_ms": series(&l, t0)})
    } else {
        json!({"unavailable": live::UNAVAILABLE})
    };
    let errors = watch.errors.lock().map(|e| e.clone()).unwrap_or_default();
    // The peer's schema defect, measured on its own output.
    let nulls = lake_watch::parquet_files(&sys.lake.join("listen_events"))
        .first()
        .map(|f| lake_watch::null_counts(f, &["sessionid", "zip", "sessionId", "userId"]))
        .map(|r| r.unwrap_or_else(|e| json!({"error": e.to_string()})));
    Ok(json!({
        "label": spec.label,
        "system": spec.kind.name(),
        "processes": spec.processes + join_times.len(),
        "pin": spec.pin,
        "joins_at_s": join_times,
        "topics_prefix": prefix,
        "partitions": spec.partitions,
        "loadavg_before": load0,
        "loadavg_after": loadavg(),
        "startup_s": round3(startup_s),
        "produced": produced,
        "durable": durable,
        "not_durable_at_end": produced.saturating_sub(durable),
        "measured_wall_s": round3(wall),
        "durable_rate": round3(durable as f64 / wall.max(1e-3)),
        "highest_sustained_rate": sustained,
        "steps": steps_out,
        "cpu_s": round3(cpu),
        "cores_used": round3(cpu / wall.max(1e-3)),
        "events_per_cpu_s": round3(durable as f64 / cpu.max(1e-3)),
        "cpu_s_per_million": round3(cpu / (durable.max(1) as f64) * 1e6),
        "peak_rss_mb": round3(peak_rss),
        "stop_s": round3(stop_s),
        "lake": {"latency": summary(&lat.all), "series_s_p50_p99_max_ms": series(&lat, t0), "files": watch.files.load(Ordering::Relaxed), "read_errors": errors},
        "live": live_v,
        "listen_events_nulls": nulls,
        "samples": {
            "t_s": samples.iter().map(|s| round3(s.t)).collect::<Vec<_>>(),
            "target_rate": samples.iter().map(|s| s.target_rate).collect::<Vec<_>>(),
            "sent": samples.iter().map(|s| s.sent).collect::<Vec<_>>(),
            "durable": samples.iter().map(|s| s.durable).collect::<Vec<_>>(),
            "lag": samples.iter().map(|s| s.lag).collect::<Vec<_>>(),
            "rss_mb": samples.iter().map(|s| round3(s.rss_mb)).collect::<Vec<_>>(),
            "cpu_s": samples.iter().map(|s| round3(s.cpu_s)).collect::<Vec<_>>(),
        },
        "threads": proc_tree::thread_delta(&threads0, &threads1),
    }))
}

/// Whether a step's lag stayed bounded and the producer kept its schedule.
fn judge(samples: &[Sample], begin: f64, end: f64, st: Step, commit_secs: u64) -> Value {
    let in_step: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t >= begin && s.t <= end + 0.5)
        .collect();
    let third = (end - begin) / 3.0;
    let mean = |a: f64, b: f64| {
        let v: Vec<f64> = in_step
            .iter()
            .filter(|s| s.t >= a && s.t < b && s.lag >= 0)
            .map(|s| s.lag as f64)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let mid = mean(begin + third, begin + 2.0 * third);
    let last = mean(begin + 2.0 * third, end + 0.5);
    let growth = match (mid, last) {
        (Some(m), Some(l)) => (l - m) / third.max(1e-3),
        _ => 0.0,
    };
    let last_lag = in_step.last().map(|s| s.lag).unwrap_or(0) as f64;
    // One durability interval of events (plus 5 s) is what a healthy consumer
    // that commits every `commit_secs` trails by.
    let allowance = st.rate * (commit_secs as f64 + 5.0);
    let bounded = !(growth > 0.05 * st.rate && last_lag > allowance);
    let first = in_step.first().map(|s| s.sent).unwrap_or(0);
    let sent = in_step.last().map(|s| s.sent).unwrap_or(0) - first;
    let span = match (in_step.first(), in_step.last()) {
        (Some(a), Some(b)) => (b.t - a.t).max(1e-3),
        _ => 1.0,
    };
    let sent_rate = sent as f64 / span;
    json!({
        "rate": st.rate, "secs": st.secs,
        "sent_rate": round3(sent_rate),
        "producer_kept_up": sent_rate >= 0.95 * st.rate || in_step.len() < 3,
        "lag_growth_per_s": round3(growth),
        "lag_at_end": last_lag,
        "bounded": bounded,
    })
}
