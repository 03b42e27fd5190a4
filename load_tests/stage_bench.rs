//! Per-stage CPU cost of the stream core, without Kafka: how many µs one message
//! costs in the decoder (JSON → Arrow), in the lake's Parquet encoding and in
//! the stream state (Sessionizer, Aggregator), on real simulator output. `kafka-bench` measures the whole pipeline against the
//! broker; this one says which stage the time goes to, repeatably, on one core.
//!
//! ```text
//! musicaly simulate -n 10000 -s 2026-11-02 -e 2026-11-03 -r 1 /tmp/stage-in
//! target/release/stage-bench --input /tmp/stage-in --runs 5
//! ```
//!
//! Reads every `<table>.json` NDJSON file of the input directory (eventsim's
//! four-topic output), cuts it into batches of `--batch` messages as the Kafka
//! source does, and times, per run: decoding every batch (`Decoder::decode`), and
//! writing every decoded batch into one in-memory Parquet file per table with the
//! lake's writer properties (`--lake-env` style overrides via `MUSICALY__LAKE__*`),
//! and folding its page views into the Sessionizer and its listens into the
//! Aggregator (`observe_batch`, then a tick's `close_output`; everything is closed
//! at the end), as their actors do but on this thread, with the default stream
//! settings. The stream-state stages are per page view and per listen (their
//! inputs), the others per message. Prints the median and range of the runs per
//! stage.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use musicaly::actors::aggregate::{Aggregator, Live};
use musicaly::actors::decode::Decoder;
use musicaly::actors::sessionize::Sessionizer;
use musicaly::actors::watermark::Watermark;
use musicaly::config::Settings;
use musicaly::event::{DecodeLimits, JsonParser, Table};
use musicaly::messages::{RawBatch, SourceBatch, SourceId};
use musicaly::metrics::Metrics;
use parquet::arrow::ArrowWriter;

struct Args {
    input: PathBuf,
    runs: usize,
    batch: usize,
    /// Run only the JSON scanner (for profiling it).
    scan_only: bool,
    /// Run only the decode stage with each JSON parser (`--decode-only`), or
    /// with one (`--parser NAME`, for instruction counts of one).
    decode_only: bool,
    parsers: Vec<JsonParser>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        input: PathBuf::from("/tmp/stage-in"),
        runs: 5,
        batch: 20_000,
        scan_only: false,
        decode_only: false,
        parsers: JsonParser::ALL.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(anyhow::anyhow!("{k} needs a value"));
        match k.as_str() {
            "--input" => a.input = v()?.into(),
            "--runs" => a.runs = v()?.parse().map_err(|e| anyhow::anyhow!("--runs: {e}"))?,
            "--batch" => a.batch = v()?.parse().map_err(|e| anyhow::anyhow!("--batch: {e}"))?,
            "--scan-only" => a.scan_only = true,
            "--decode-only" => a.decode_only = true,
            "--parser" => {
                let name = v()?;
                let p = JsonParser::ALL
                    .into_iter()
                    .find(|p| p.name() == name)
                    .ok_or(anyhow::anyhow!("--parser {name}: use scanner, sonic-rs or simd-json"))?;
                a.parsers = vec![p];
                a.decode_only = true;
            }
            "--help" | "-h" => {
                return Err(anyhow::anyhow!("usage: stage-bench [--input DIR] [--runs N] [--batch N] [--scan-only] [--decode-only] [--parser scanner|sonic-rs|simd-json]"))
            }
            other => return Err(anyhow::anyhow!("unknown argument {other} (see --help)")),
        }
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Keeps a stream actor's closed output (digested after the clock stops).
fn keep(
    out: Result<musicaly::actors::sessionize::StreamOutput, musicaly::columns::SchemaError>,
    kept: &mut musicaly::actors::sessionize::StreamOutput,
) -> anyhow::Result<()> {
    kept.extend(out?);
    Ok(())
}

/// Row count and a digest of the stream state's output, printed so that a
/// change to the Sessionizer or Aggregator can be checked to give the same
/// results on the same input (the digest covers every value, in order).
fn digest(out: &musicaly::actors::sessionize::StreamOutput) -> (usize, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    let mut rows = 0;
    for (table, _, rb) in out {
        table.hash(&mut h);
        for c in rb.columns() {
            let d = c.to_data();
            (d.len(), d.offset(), d.null_count()).hash(&mut h);
            if let Some(n) = d.nulls() {
                n.validity().hash(&mut h);
            }
            for b in d.buffers() {
                b.as_slice().hash(&mut h);
            }
        }
        rows += rb.num_rows();
    }
    (rows, h.finish())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args().map_err(anyhow::Error::msg)?;
    let settings = Settings::load(None, &Vec::new())?;
    let props = musicaly::sinks::lake::writer_properties(&settings.lake)?;

    // Cut each table's file into batches the way the source does.
    let mut batches: Vec<(Table, RawBatch)> = Vec::new();
    let mut messages = 0usize;
    let mut bytes = 0usize;
    for t in Table::ALL {
        let path = args.input.join(format!("{}.json", t.name()));
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => anyhow::bail!(
                "{}: {e} (make the input with `musicaly simulate ... {}`)",
                path.display(),
                args.input.display()
            ),
        };
        let mut rb = RawBatch::default();
        for (i, line) in data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            rb.push(i as i64, line);
            messages += 1;
            bytes += line.len();
            if rb.len() == args.batch {
                batches.push((t, std::mem::take(&mut rb)));
            }
        }
        if !rb.is_empty() {
            batches.push((t, rb));
        }
    }
    println!(
        "{} messages, {} batches, {:.0} bytes a message",
        messages,
        batches.len(),
        bytes as f64 / messages as f64
    );

    if args.decode_only {
        return compare_parsers(&batches, messages, &args);
    }
    let mut decode_us = Vec::new();
    let mut parquet_us = Vec::new();
    let mut parquet_bytes = 0usize;
    let (mut session_us, mut aggregate_us) = (Vec::new(), Vec::new());
    let (mut page_views, mut listens, mut derived_out) = (0usize, 0usize, (0usize, 0u64));
    let st = &settings.stream;
    let lake_writer = musicaly::sinks::lake::DerivedWriter::new(
        musicaly::sinks::lake::LakeStore::in_memory(),
        &settings.lake,
    )?;
    let watermark = || {
        Watermark::new(
            st.lateness_secs as i64 * 1000,
            std::time::Duration::from_secs(st.idle_partition_secs),
        )
    };
    for _ in 0..if args.scan_only { 0 } else { args.runs } {
        // Copies of the input, made outside the clock (the source hands over
        // batches it owns).
        let inputs: Vec<(Table, RawBatch)> = batches.clone();
        let mut decoder = Decoder::new(DecodeLimits::default(), Arc::new(Metrics::default()), 4);
        let mut writers = Vec::new();
        for t in Table::ALL {
            writers.push(ArrowWriter::try_new(
                Vec::new(),
                musicaly::columns::schema(t),
                Some(musicaly::sinks::lake::props_for_schema(
                    &props,
                    &musicaly::columns::schema(t),
                )),
            )?);
        }
        let metrics = Arc::new(Metrics::default());
        let mut sessionizer = Sessionizer::new(
            st.session_gap_secs as i64 * 1000,
            watermark(),
            lake_writer.clone(),
            metrics.clone(),
            1,
        );
        let mut aggregator = Aggregator::new(
            st.window_secs as i64 * 1000,
            watermark(),
            lake_writer.clone(),
            metrics,
            Live::default(),
            1,
        );
        (page_views, listens) = (0, 0);
        let mut kept = Vec::new();
        // As in a partition actor: decode a batch, write it, hand its page views
        // and listens to the stream state, drop it.
        let (mut decode_s, mut parquet_s, mut session_s, mut aggregate_s) = (0.0, 0.0, 0.0, 0.0);
        for (t, raw) in inputs {
            let started = Instant::now();
            let out = decoder.decode(SourceBatch {
                source: SourceId {
                    topic: t.name().into(),
                    partition: 0,
                },
                raw,
                read_at: started,
                reservation: None,
            })?;
            decode_s += started.elapsed().as_secs_f64();
            anyhow::ensure!(out.dead.is_empty(), "dead letters: {:?}", out.dead[0].error);
            let started = Instant::now();
            for (t, rb) in &out.tables {
                writers[t.index()].write(rb)?;
            }
            parquet_s += started.elapsed().as_secs_f64();
            let source = SourceId {
                topic: t.name().into(),
                partition: 0,
            };
            for (t, rb) in &out.tables {
                let started = Instant::now();
                match t {
                    Table::PageView => {
                        sessionizer
                            .observe_batch(&source, rb)
                            .map_err(anyhow::Error::msg)?;
                        keep(sessionizer.close_output(false), &mut kept)?;
                        session_s += started.elapsed().as_secs_f64();
                        page_views += rb.num_rows();
                    }
                    Table::Listen => {
                        aggregator
                            .observe_batch(&source, rb)
                            .map_err(anyhow::Error::msg)?;
                        keep(aggregator.close_output(false), &mut kept)?;
                        aggregate_s += started.elapsed().as_secs_f64();
                        listens += rb.num_rows();
                    }
                    _ => {}
                }
            }
        }
        let started = Instant::now();
        keep(sessionizer.close_output(true), &mut kept)?;
        session_s += started.elapsed().as_secs_f64();
        let started = Instant::now();
        keep(aggregator.close_output(true), &mut kept)?;
        aggregate_s += started.elapsed().as_secs_f64();
        derived_out = digest(&kept);
        session_us.push(session_s * 1e6 / page_views.max(1) as f64);
        aggregate_us.push(aggregate_s * 1e6 / listens.max(1) as f64);
        let started = Instant::now();
        parquet_bytes = 0;
        for w in writers {
            parquet_bytes += w.into_inner()?.len();
        }
        parquet_s += started.elapsed().as_secs_f64();
        decode_us.push(decode_s * 1e6 / messages as f64);
        parquet_us.push(parquet_s * 1e6 / messages as f64);
    }
    // The JSON step alone: our scanner, and serde_json's visitor (the peer).
    let limits = DecodeLimits::default();
    let mut scan_us = Vec::new();
    let mut serde_us = Vec::new();
    let mut scratch = musicaly::event::Scratch::default();
    for _ in 0..args.runs {
        let started = Instant::now();
        let mut n = 0i64;
        for (_, raw) in &batches {
            for (_, payload) in raw.iter() {
                let ev = musicaly::event::parse_in(payload, &limits, &mut scratch)?;
                n += ev.ts.unwrap_or(0) & 1;
            }
        }
        scan_us.push(started.elapsed().as_secs_f64() * 1e6 / messages as f64);
        if args.scan_only {
            continue;
        }
        let started = Instant::now();
        for (_, raw) in &batches {
            for (_, payload) in raw.iter() {
                let ev = musicaly::event::parse_reference(payload, &limits)?;
                n -= ev.ts.unwrap_or(0) & 1;
            }
        }
        serde_us.push(started.elapsed().as_secs_f64() * 1e6 / messages as f64);
        anyhow::ensure!(n == 0, "the scanner and serde_json disagree");
    }
    let (sc, scmin, scmax) = median(scan_us);
    if args.scan_only {
        println!("scanner: {sc:.3} µs per message ({scmin:.3}..{scmax:.3})");
        return Ok(());
    }
    compare_parsers(&batches, messages, &args)?;
    let (se, semin, semax) = median(serde_us);
    let (d, dmin, dmax) = median(decode_us);
    let (p, pmin, pmax) = median(parquet_us);
    let (ss, ssmin, ssmax) = median(session_us);
    let (ag, agmin, agmax) = median(aggregate_us);
    println!("| stage | µs per message (median) | min..max | messages per second |");
    println!("|---|---|---|---|");
    println!(
        "| decode | {d:.3} | {dmin:.3}..{dmax:.3} | {:.0} |",
        1e6 / d
    );
    println!(
        "| JSON only: scanner (`event::parse_in`) | {sc:.3} | {scmin:.3}..{scmax:.3} | {:.0} |",
        1e6 / sc
    );
    println!(
        "| JSON only: serde_json reference (`event::parse_reference`) | {se:.3} | {semin:.3}..{semax:.3} | {:.0} |",
        1e6 / se
    );
    // The zstd level only when zstd is the codec.
    let codec = match settings.lake.compression.as_str() {
        "zstd" => format!("zstd {}", settings.lake.zstd_level),
        c => c.to_string(),
    };
    println!(
        "| parquet ({codec}) | {p:.3} | {pmin:.3}..{pmax:.3} | {:.0} |",
        1e6 / p
    );
    println!(
        "| stream state: sessionizer (µs per page view) | {ss:.3} | {ssmin:.3}..{ssmax:.3} | {:.0} |",
        1e6 / ss
    );
    println!(
        "| stream state: aggregator (µs per listen) | {ag:.3} | {agmin:.3}..{agmax:.3} | {:.0} |",
        1e6 / ag
    );
    println!(
        "stream state: {page_views} page views, {listens} listens; {} rows out (sessions, windows, late), digest {:016x}",
        derived_out.0, derived_out.1
    );
    println!(
        "parquet: {:.1} MB, {:.1} bytes a message",
        parquet_bytes as f64 / 1e6,
        parquet_bytes as f64 / messages as f64
    );
    Ok(())
}

/// A source batch of `table`'s topic, partition 0.
fn source_batch(table: Table, raw: RawBatch) -> SourceBatch {
    SourceBatch {
        source: SourceId {
            topic: table.name().into(),
            partition: 0,
        },
        raw,
        read_at: Instant::now(),
        reservation: None,
    }
}

/// The decode stage (`Decoder::decode`: JSON into the Arrow columns) with each
/// JSON parser on the same batches: first checks that every parser gives the
/// same columns and dead letters as the first, then times `--runs` rounds,
/// each decoding every batch once with each parser (the order rotating from
/// round to round, so that load from other processes falls on all of them).
/// Prints per parser the median µs per message, its range, and the median and
/// range of its per-round ratio to the first parser's time (the paired
/// ratio is steadier than the ratio of medians on a loaded machine).
fn compare_parsers(
    batches: &[(Table, RawBatch)],
    messages: usize,
    args: &Args,
) -> anyhow::Result<()> {
    let mut decoders: Vec<Decoder> = args
        .parsers
        .iter()
        .map(|p| {
            Decoder::new(DecodeLimits::default(), Arc::new(Metrics::default()), 4).with_parser(*p)
        })
        .collect();
    for (t, raw) in batches {
        let mut first = None;
        for (d, p) in decoders.iter_mut().zip(&args.parsers) {
            let out = d.decode(source_batch(*t, raw.clone()))?;
            let dead: Vec<_> = out
                .dead
                .iter()
                .map(|x| (x.offset, x.error.kind()))
                .collect();
            match &first {
                None => first = Some((out.tables, dead)),
                Some((tables, first_dead)) => anyhow::ensure!(
                    *tables == out.tables && *first_dead == dead,
                    "{} decodes {t} differently from {}",
                    p.name(),
                    args.parsers[0].name()
                ),
            }
        }
    }
    let n = decoders.len();
    let mut us = vec![Vec::new(); n];
    for run in 0..args.runs {
        for k in 0..n {
            let i = (run + k) % n;
            let inputs = batches.to_vec();
            let mut secs = 0.0;
            for (t, raw) in inputs {
                let sb = source_batch(t, raw);
                let started = Instant::now();
                let out = decoders[i].decode(sb)?;
                secs += started.elapsed().as_secs_f64();
                drop(out);
            }
            us[i].push(secs * 1e6 / messages as f64);
        }
    }
    println!(
        "| decode stage, {} rounds | µs per message (median) | min..max | ratio to {} (median of rounds) | min..max |",
        args.runs,
        args.parsers[0].name()
    );
    println!("|---|---|---|---|---|");
    for (i, p) in args.parsers.iter().enumerate() {
        let ratios: Vec<f64> = us[i].iter().zip(&us[0]).map(|(a, b)| a / b).collect();
        let (m, lo, hi) = median(us[i].clone());
        let (r, rlo, rhi) = median(ratios);
        println!(
            "| {} | {m:.3} | {lo:.3}..{hi:.3} | {r:.3} | {rlo:.3}..{rhi:.3} |",
            p.name()
        );
    }
    Ok(())
}
