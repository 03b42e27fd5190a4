//! Resident memory and CPU time of a whole process tree, from /proc: Spark is a
//! JVM plus Python workers, and a scale-out run is several pipelines, so the
//! measure is the root and all its descendants, not one process.

use std::collections::HashMap;

/// One line of /proc/PID/stat that matters here.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks (the reaped children's
    /// time counts: Python workers come and go).
    ticks: u64,
    rss_pages: u64,
}

fn parse_stat(s: &str) -> Option<(String, Stat)> {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let (head, rest) = s.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    // Fields after the comm, 0-based: 1 ppid, 11 utime, 12 stime, 13 cutime,
    // 14 cstime, 21 rss.
    Some((
        comm,
        Stat {
            ppid: n(1) as u32,
            ticks: n(11) + n(12) + n(13) + n(14),
            rss_pages: n(21),
        },
    ))
}

fn hz() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

fn page_bytes() -> f64 {
    // SAFETY: as above.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64
}

/// The pids of `roots` and all their descendants.
pub fn tree(roots: &[u32]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((_, st)) = std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            {
                children.entry(st.ppid).or_default().push(pid);
            }
        }
    }
    let mut out: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c.iter().copied().filter(|p| !roots.contains(p)));
        }
        i += 1;
    }
    out
}

/// Resident bytes and CPU seconds of the tree now.
pub fn usage(roots: &[u32]) -> (f64, f64) {
    let (mut rss, mut ticks) = (0u64, 0u64);
    for pid in tree(roots) {
        if let Some((_, st)) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
        {
            rss += st.rss_pages;
            ticks += st.ticks;
        }
    }
    (rss as f64 * page_bytes(), ticks as f64 / hz())
}

/// Per thread of the tree: (process comm/thread comm, CPU seconds, seconds
/// runnable but waiting for a CPU), keyed by tid. From /proc/PID/task/TID/stat and
/// schedstat: two snapshots give what each thread did in between.
pub fn threads(roots: &[u32]) -> HashMap<u32, (String, f64, f64)> {
    let mut out = HashMap::new();
    let hz = hz();
    for pid in tree(roots) {
        let pcomm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for e in dir.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Some((comm, st)) = std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            else {
                continue;
            };
            // Threads have no children of their own: cutime/cstime are the
            // process's, so take utime + stime from schedstat's run time instead.
            let sched = std::fs::read_to_string(e.path().join("schedstat")).unwrap_or_default();
            let mut it = sched
                .split_whitespace()
                .map(|x| x.parse::<f64>().unwrap_or(0.0));
            let (run_ns, wait_ns) = (it.next().unwrap_or(0.0), it.next().unwrap_or(0.0));
            let cpu = if run_ns > 0.0 {
                run_ns / 1e9
            } else {
                st.ticks as f64 / hz
            };
            out.insert(
                tid,
                (format!("{}/{comm}", pcomm.trim()), cpu, wait_ns / 1e9),
            );
        }
    }
    out
}

/// What each thread did between two snapshots, grouped by name (repeated
/// names summed, with their count), the busiest first.
pub fn thread_delta(
    before: &HashMap<u32, (String, f64, f64)>,
    after: &HashMap<u32, (String, f64, f64)>,
) -> Vec<serde_json::Value> {
    let mut by: HashMap<String, (f64, f64, u32)> = HashMap::new();
    for (tid, (name, cpu, wait)) in after {
        let (c0, w0) = before.get(tid).map(|b| (b.1, b.2)).unwrap_or((0.0, 0.0));
        let e = by.entry(name.clone()).or_insert((0.0, 0.0, 0));
        e.0 += cpu - c0;
        e.1 += wait - w0;
        e.2 += 1;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    v.into_iter()
        .filter(|(_, (c, w, _))| *c >= 0.01 || *w >= 0.01)
        .map(|(name, (cpu, wait, n))| {
            serde_json::json!({"thread": name, "count": n, "cpu_s": round3(cpu), "runqueue_wait_s": round3(wait)})
        })
        .collect()
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_this_process() {
        let me = std::process::id();
        let (rss, cpu) = usage(&[me]);
        assert!(rss > 1e6, "rss {rss}");
        assert!(cpu >= 0.0);
        assert!(tree(&[me]).contains(&me));
        assert!(!threads(&[me]).is_empty());
    }

    #[test]
    fn parses_comm_with_spaces() {
        let (comm, st) =
            parse_stat("12 (a b) c) S 7 0 0 0 0 0 0 0 0 0 5 6 1 2 0 0 0 0 0 0 99 0").unwrap();
        assert_eq!(comm, "a b) c");
        assert_eq!(st.ppid, 7);
        assert_eq!(st.ticks, 14);
        assert_eq!(st.rss_pages, 99);
    }
}
