//! The run's plot, written as plain SVG: per run one row of two panels, the
//! end-to-end latency by second of intended send time (lake p50/p99/max and the
//! live view's p99, log scale) and the consumer lag with the target rate steps.

use std::fmt::Write;

use serde_json::Value;

const W: f64 = 1200.0;
const ROW: f64 = 280.0;
const PAD_L: f64 = 70.0;
const PAD_R: f64 = 70.0;
const PAD_T: f64 = 30.0;
const PAD_B: f64 = 40.0;

struct Panel {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    xmax: f64,
}

impl Panel {
    fn px(&self, t: f64) -> f64 {
        self.x + t.max(0.0) / self.xmax.max(1e-9) * self.w
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn polyline(out: &mut String, pts: &[(f64, f64)], color: &str, dash: bool) {
    if pts.is_empty() {
        return;
    }
    let d: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5"{} points="{}"/>"#,
        if dash {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        },
        d.join(" ")
    );
}

fn frame(out: &mut String, p: &Panel, title: &str, xlabel: &str) {
    let _ = writeln!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        p.x, p.y, p.w, p.h
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        p.x,
        p.y - 8.0,
        esc(title)
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>"#,
        p.x + p.w / 2.0,
        p.y + p.h + 32.0,
        esc(xlabel)
    );
    // x ticks: about 6.
    let step = nice(p.xmax / 6.0);
    let mut t = 0.0;
    while t <= p.xmax + 1e-9 {
        let x = p.px(t);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#ccc"/><text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">{t}</text>"##,
            p.y,
            p.y + p.h,
            p.y + p.h + 14.0
        );
        t += step;
    }
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice(x: f64) -> f64 {
    let x = x.max(1e-9);
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn arr(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Latency panel: log10 of seconds between 0.1 s and the largest max.
fn latency_panel(out: &mut String, p: &Panel, run: &Value) {
    let lake = run["lake"]["series_s_p50_p99_max_ms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let live = run["live"]["series_s_p50_p99_max_ms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let row = |r: &Value, k: usize| r.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let top = lake
        .iter()
        .chain(live.iter())
        .map(|r| row(r, 3))
        .fold(1000.0f64, f64::max)
        / 1000.0;
    let (lo, hi) = (-1.0f64, top.log10().ceil().max(0.0));
    let py = |ms: f64| {
        let l = (ms / 1000.0).max(0.1).log10();
        p.y + p.h - (l - lo) / (hi - lo) * p.h
    };
    let mut e = lo;
    while e <= hi + 1e-9 {
        let y = py(10f64.powf(e) * 1000.0);
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{} s</text>"##,
            p.x,
            p.x + p.w,
            p.x - 4.0,
            y + 3.0,
            10f64.powf(e)
        );
        e += 1.0;
    }
    for (k, color) in [(1usize, "#1f77b4"), (2, "#d62728"), (3, "#999999")] {
        let pts: Vec<(f64, f64)> = lake
            .iter()
            .map(|r| (p.px(row(r, 0)), py(row(r, k))))
            .collect();
        polyline(out, &pts, color, k == 3);
    }
    let pts: Vec<(f64, f64)> = live
        .iter()
        .map(|r| (p.px(row(r, 0)), py(row(r, 2))))
        .collect();
    polyline(out, &pts, "#2ca02c", false);
    let live_note = match run["live"]["unavailable"].as_str() {
        Some(s) => s.to_string(),
        None => "live p99".into(),
    };
    legend(
        out,
        p,
        &[
            ("#1f77b4", "lake p50".to_string()),
            ("#d62728", "lake p99".to_string()),
            ("#999999", "lake max".to_string()),
            ("#2ca02c", live_note),
        ],
    );
}

fn legend(out: &mut String, p: &Panel, items: &[(&str, String)]) {
    for (i, (c, name)) in items.iter().enumerate() {
        let y = p.y + 14.0 + i as f64 * 13.0;
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="10" height="3" fill="{c}"/><text x="{}" y="{}" font-size="10">{}</text>"#,
            p.x + 8.0,
            y - 3.0,
            p.x + 22.0,
            y,
            esc(name)
        );
    }
}

/// Lag (left axis) and target rate (right axis, dashed).
fn lag_panel(out: &mut String, p: &Panel, run: &Value) {
    let t = arr(&run["samples"]["t_s"]);
    let lag = arr(&run["samples"]["lag"]);
    let rate = arr(&run["samples"]["target_rate"]);
    let lmax = nice(lag.iter().copied().fold(1.0, f64::max));
    let rmax = nice(rate.iter().copied().fold(1.0, f64::max));
    for k in 0..=4 {
        let f = k as f64 / 4.0;
        let y = p.y + p.h - f * p.h;
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text><text x="{}" y="{:.1}" font-size="10">{}/s</text>"##,
            p.x,
            p.x + p.w,
            p.x - 4.0,
            y + 3.0,
            fmt_count(f * lmax),
            p.x + p.w + 4.0,
            y + 3.0,
            fmt_count(f * rmax)
        );
    }
    let pts = |v: &[f64], max: f64| -> Vec<(f64, f64)> {
        t.iter()
            .zip(v)
            .filter(|(_, y)| **y >= 0.0)
            .map(|(x, y)| (p.px(*x), p.y + p.h - y / max * p.h))
            .collect()
    };
    polyline(out, &pts(&lag, lmax), "#ff7f0e", false);
    polyline(out, &pts(&rate, rmax), "#555555", true);
    for j in arr(&run["joins_at_s"]) {
        let x = p.px(j);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#9467bd" stroke-dasharray="2,2"/>"##,
            p.y,
            p.y + p.h
        );
    }
    legend(
        out,
        p,
        &[
            ("#ff7f0e", "consumer lag (events)".into()),
            ("#555555", "target rate (right axis)".into()),
        ],
    );
}

/// The whole plot: one row per run.
pub fn svg(title: &str, runs: &[&Value]) -> String {
    let h = PAD_T + ROW * runs.len().max(1) as f64 + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{PAD_L}" y="18" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let pw = (W - 2.0 * (PAD_L + PAD_R)) / 2.0;
    for (i, run) in runs.iter().enumerate() {
        let y = PAD_T + 25.0 + i as f64 * ROW;
        let t = arr(&run["samples"]["t_s"]);
        let xmax = t.last().copied().unwrap_or(1.0).max(1.0);
        let name = format!(
            "{} — {}",
            run["label"].as_str().unwrap_or(""),
            run["system"].as_str().unwrap_or("")
        );
        let lp = Panel {
            x: PAD_L,
            y,
            w: pw,
            h: ROW - PAD_T - PAD_B - 25.0,
            xmax,
        };
        frame(
            &mut out,
            &lp,
            &format!("{name}: event → durable / live latency"),
            "intended send time (s)",
        );
        latency_panel(&mut out, &lp, run);
        let gp = Panel {
            x: PAD_L * 2.0 + PAD_R + pw,
            y,
            w: pw,
            h: lp.h,
            xmax,
        };
        frame(
            &mut out,
            &gp,
            &format!("{name}: consumer lag, rate steps"),
            "time (s)",
        );
        lag_panel(&mut out, &gp, run);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_run() {
        let run = serde_json::json!({
            "label": "a", "system": "musicaly",
            "lake": {"series_s_p50_p99_max_ms": [[0.0, 1000.0, 2000.0, 3000.0], [1.0, 900.0, 1900.0, 2500.0]]},
            "live": {"unavailable": "x < y"},
            "samples": {"t_s": [0.0, 1.0], "lag": [0, 10], "target_rate": [100, 100]},
        });
        let s = svg("t", &[&run]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 5);
        assert!(s.contains("x &lt; y"));
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(120.0), 200.0);
    }
}
