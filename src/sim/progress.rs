//! The progress bar of a finite run on a terminal.

use std::time::Instant;

/// Progress bar on stderr: simulated time done, events and events/s.
pub struct Progress {
    bar: indicatif::ProgressBar,
    start_ms: i64,
    last_tick_ms: i64,
    wall: Instant,
}

impl Progress {
    /// Only on a terminal, and only for a finite run.
    pub fn new(start_ms: i64, end_ms: i64) -> Option<Progress> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(((end_ms - start_ms) / 1000).max(1) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "simulating {bar:40} {percent}% of simulated time, {msg} [{elapsed}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(Progress {
            bar,
            start_ms,
            last_tick_ms: start_ms,
            wall: Instant::now(),
        })
    }

    pub fn done(self) {
        self.bar.finish_and_clear();
    }

    #[inline]
    pub fn tick(&mut self, t: i64, events: u64) {
        if t - self.last_tick_ms > 600_000 {
            self.last_tick_ms = t;
            self.bar
                .set_position(((t - self.start_ms) / 1000).max(0) as u64);
            let secs = self.wall.elapsed().as_secs_f64().max(1e-3);
            self.bar.set_message(format!(
                "{events} events, {:.0} events/s",
                events as f64 / secs
            ));
        }
    }
}
