//! Time shaping of session starts: the daily warp, and rejection on weekends and
//! US federal holidays (observed dates), as eventsim does.

use chrono::{Datelike, NaiveDate, Weekday};

const DAY: i64 = 86_400;

/// Shifts a session start (epoch seconds) so that density is lowest near 03:00
/// and highest near 15:00: `t + trunc(damping * 86400 * sin(2π (s - 10800) / 86400))`.
pub fn daily_warp(t: i64, damping: f64) -> i64 {
    t + warp_shift(t.rem_euclid(DAY), damping)
}

/// The shift of [`daily_warp`] at second `s` of the day. `as` truncates
/// toward zero as `trunc` does (without its call: SSE2 has no rounding
/// instruction), saturating the same way.
fn warp_shift(s: i64, damping: f64) -> i64 {
    let s = s as f64;
    let shift =
        damping * DAY as f64 * (2.0 * std::f64::consts::PI * (s - 10_800.0) / DAY as f64).sin();
    shift as i64
}

/// [`daily_warp`] with its shifts kept per second of the day: the shift
/// depends on nothing else, so each is computed once (the same `sin` of the
/// same argument: the same bits) instead of at every session start.
///
/// Kept compact: a table of 86 400 shifts (345 KB) is read at a random
/// second per session start candidate, and that read missed the cache so
/// often that it was 60 % of `next_session_start`'s sampled time (7 % of
/// the generating thread's). The shift moves by at most one a second with
/// eventsim's dampings (its slope is 2π · damping), so a block of 64 seconds
/// is its first shift, a direction and one bit per second saying whether
/// the shift moved there: 16 bytes a block, 21.6 KB a day. Blocks where it
/// does not move one way by steps of one (around the two extremes of the
/// day, or all of them with a damping above 1/2π) read the full table.
/// Either way the shift is exactly [`warp_shift`]'s: a block is encoded from
/// the shifts it computes, and decoding adds the same steps back.
#[derive(Debug, Clone)]
pub struct Warp {
    damping: f64,
    /// Per 64 seconds of the day (1 350): its shifts, encoded; built when
    /// first needed. Empty when a shift might not fit an `i32` (a damping
    /// far outside eventsim's 0..1): then every shift is computed.
    blocks: Vec<WarpBlock>,
    /// The shifts of the blocks that are not steps of one in one direction
    /// (zeros elsewhere, never written: the allocation stays untouched).
    shift: Vec<i32>,
}

/// 64 seconds of [`Warp`]: the shift at second `k` of the block is `base +
/// dir * (steps' bits 1..=k set)`.
#[derive(Debug, Clone, Copy)]
struct WarpBlock {
    steps: u64,
    base: i32,
    /// 1 or -1; [`WarpBlock::TABLE`]: read [`Warp::shift`];
    /// [`WarpBlock::UNSET`]: not built yet.
    dir: i32,
}

impl WarpBlock {
    const UNSET: i32 = 0;
    const TABLE: i32 = 2;
}

const WARP_BLOCK: i64 = 64;

impl Warp {
    pub fn new(damping: f64) -> Warp {
        // |shift| <= |damping| * DAY: below 2^31 - 1 it fits.
        let fits = (damping * DAY as f64).abs() < 2e9;
        let unset = WarpBlock {
            steps: 0,
            base: 0,
            dir: WarpBlock::UNSET,
        };
        Warp {
            damping,
            blocks: if fits {
                vec![unset; (DAY / WARP_BLOCK) as usize]
            } else {
                Vec::new()
            },
            shift: if fits {
                vec![0; DAY as usize]
            } else {
                Vec::new()
            },
        }
    }

    /// [`daily_warp`]`(t, damping)`.
    #[inline]
    pub fn warp(&mut self, t: i64) -> i64 {
        let s = t.rem_euclid(DAY);
        let (b, k) = ((s / WARP_BLOCK) as usize, (s % WARP_BLOCK) as u32);
        let Some(&blk) = self.blocks.get(b) else {
            return t + warp_shift(s, self.damping);
        };
        let blk = if blk.dir == WarpBlock::UNSET {
            self.build(b)
        } else {
            blk
        };
        if blk.dir == WarpBlock::TABLE {
            return t + self.shift[s as usize] as i64;
        }
        // Bits 1..=k (bit 0 is never set).
        let moved = (blk.steps & (u64::MAX >> (63 - k))).count_ones() as i64;
        t + blk.base as i64 + blk.dir as i64 * moved
    }

    /// Computes block `b`'s shifts and encodes them.
    #[cold]
    fn build(&mut self, b: usize) -> WarpBlock {
        let first = b as i64 * WARP_BLOCK;
        let shifts: Vec<i64> = (first..first + WARP_BLOCK)
            .map(|s| warp_shift(s, self.damping))
            .collect();
        let steps = |dir: i64| {
            let mut bits = 0u64;
            for k in 1..shifts.len() {
                match shifts[k] - shifts[k - 1] {
                    0 => {}
                    d if d == dir => bits |= 1 << k,
                    _ => return None,
                }
            }
            Some(bits)
        };
        let blk = match (steps(1), steps(-1)) {
            (Some(bits), _) => WarpBlock {
                steps: bits,
                base: shifts[0] as i32,
                dir: 1,
            },
            (None, Some(bits)) => WarpBlock {
                steps: bits,
                base: shifts[0] as i32,
                dir: -1,
            },
            (None, None) => {
                for (k, &v) in shifts.iter().enumerate() {
                    self.shift[first as usize + k] = v as i32;
                }
                WarpBlock {
                    steps: 0,
                    base: 0,
                    dir: WarpBlock::TABLE,
                }
            }
        };
        self.blocks[b] = blk;
        blk
    }
}

/// Off days: Saturday, Sunday, and observed US federal holidays.
pub fn is_off_day(day: i64) -> bool {
    let Some(d) = NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::Duration::days(day)))
    else {
        return false;
    };
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun) || is_federal_holiday(d)
}

fn nth_weekday(year: i32, month: u32, wd: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, n)
}

fn last_weekday(year: i32, month: u32, wd: Weekday) -> Option<NaiveDate> {
    (1..=5)
        .rev()
        .find_map(|n| NaiveDate::from_weekday_of_month_opt(year, month, wd, n))
}

/// A fixed-date holiday falling on Saturday is observed on Friday, on Sunday on Monday.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d.pred_opt().unwrap_or(d),
        Weekday::Sun => d.succ_opt().unwrap_or(d),
        _ => d,
    }
}

pub fn is_federal_holiday(d: NaiveDate) -> bool {
    let y = d.year();
    let fixed = |m, day| NaiveDate::from_ymd_opt(y, m, day).map(observed);
    let mut days = vec![
        fixed(1, 1),
        nth_weekday(y, 1, Weekday::Mon, 3),
        nth_weekday(y, 2, Weekday::Mon, 3),
        last_weekday(y, 5, Weekday::Mon),
        fixed(7, 4),
        nth_weekday(y, 9, Weekday::Mon, 1),
        nth_weekday(y, 10, Weekday::Mon, 2),
        fixed(11, 11),
        nth_weekday(y, 11, Weekday::Thu, 4),
        fixed(12, 25),
        // New Year's Day of next year observed on Dec 31.
        NaiveDate::from_ymd_opt(y + 1, 1, 1).map(observed),
    ];
    if y >= 2021 {
        days.push(fixed(6, 19));
    }
    days.into_iter().flatten().any(|h| h == d)
}

/// Probability of rejecting a session start at `t` (epoch seconds): a trapezoid
/// over each run of off days, rising from 0 at (midnight before the run − offset)
/// to `damping` over `scale` minutes, and falling symmetrically after the run.
pub fn weekend_rejection(t: i64, damping: f64, offset_min: f64, scale_min: f64) -> f64 {
    rejection_with(t, damping, offset_min, scale_min, is_off_day)
}

/// Off days precomputed for a span of days: the hot path (one lookup per
/// session start) then costs a few array reads instead of date arithmetic.
#[derive(Debug, Clone)]
pub struct OffDays {
    first_day: i64,
    off: Vec<bool>,
    /// Per off day of the table: the run of off days around it, as the
    /// search in [`rejection_with`] finds it (which the table saves).
    runs: Vec<(i64, i64)>,
}

impl OffDays {
    /// Days from `from_ms` to `to_ms` (epoch ms), with a margin; at most 40 years
    /// (days outside fall back to computing).
    pub fn new(from_ms: i64, to_ms: i64) -> OffDays {
        let first_day = from_ms.div_euclid(DAY * 1000) - 30;
        let last_day = to_ms.div_euclid(DAY * 1000).min(first_day + 40 * 366) + 30;
        let off = (first_day..=last_day.max(first_day))
            .map(is_off_day)
            .collect();
        let mut t = OffDays {
            first_day,
            off,
            runs: Vec::new(),
        };
        t.runs = (0..t.off.len() as i64)
            .map(|i| run_around(first_day + i, |d| t.is_off(d)))
            .collect();
        t
    }

    #[inline]
    pub fn is_off(&self, day: i64) -> bool {
        match usize::try_from(day - self.first_day) {
            Ok(i) if i < self.off.len() => self.off[i],
            _ => is_off_day(day),
        }
    }

    /// [`weekend_rejection`] with the table.
    #[inline]
    pub fn rejection(&self, t: i64, damping: f64, offset_min: f64, scale_min: f64) -> f64 {
        if damping <= 0.0 {
            return 0.0;
        }
        let day = t.div_euclid(DAY);
        let i = day - 1 - self.first_day;
        if i < 0 || i + 3 > self.off.len() as i64 {
            return rejection_with(t, damping, offset_min, scale_min, |d| self.is_off(d));
        }
        let i = i as usize;
        // Most days have no off day next to them: no ramp.
        if !(self.off[i] || self.off[i + 1] || self.off[i + 2]) {
            return 0.0;
        }
        let mut best: f64 = 0.0;
        for j in i..i + 3 {
            if self.off[j] {
                best = best.max(ramp(t, self.runs[j], offset_min, scale_min));
            }
        }
        damping * best
    }
}

fn rejection_with(
    t: i64,
    damping: f64,
    offset_min: f64,
    scale_min: f64,
    is_off_day: impl Fn(i64) -> bool,
) -> f64 {
    if damping <= 0.0 {
        return 0.0;
    }
    let day = t.div_euclid(DAY);
    let mut best: f64 = 0.0;
    // offset and scale are under a day in practice; look one day either side.
    for k in [day - 1, day, day + 1] {
        if !is_off_day(k) {
            continue;
        }
        best = best.max(ramp(t, run_around(k, &is_off_day), offset_min, scale_min));
    }
    damping * best
}

/// The run of off days [start, end) around off day `k` (at most two weeks
/// either side).
fn run_around(k: i64, is_off_day: impl Fn(i64) -> bool) -> (i64, i64) {
    let mut start = k;
    while start > k - 14 && is_off_day(start - 1) {
        start -= 1;
    }
    let mut end = k + 1;
    while end < k + 14 && is_off_day(end) {
        end += 1;
    }
    (start, end)
}

/// The trapezoid of one run of off days at `t`, from 0 to 1.
#[inline]
fn ramp(t: i64, (start, end): (i64, i64), offset_min: f64, scale_min: f64) -> f64 {
    let off = offset_min * 60.0;
    let scale = (scale_min * 60.0).max(1.0);
    let (s, e) = ((start * DAY) as f64, (end * DAY) as f64);
    let tf = t as f64;
    ((tf - (s - off)) / scale)
        .min(((e + off) - tf) / scale)
        .clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_of(y: i32, m: u32, d: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days()
    }

    #[test]
    fn holidays() {
        assert!(is_federal_holiday(
            NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
        )); // Thanksgiving
        assert!(is_federal_holiday(
            NaiveDate::from_ymd_opt(2026, 7, 3).unwrap()
        )); // July 4 is a Saturday
        assert!(!is_federal_holiday(
            NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
        ));
    }

    #[test]
    fn weekend_ramp() {
        // 2026-11-28 is a Saturday.
        let sat = day_of(2026, 11, 28) * DAY;
        assert_eq!(weekend_rejection(sat + 12 * 3600, 0.5, 180.0, 360.0), 0.5);
        // Wednesday noon: no damping.
        assert_eq!(
            weekend_rejection(sat - 3 * DAY + 12 * 3600, 0.5, 180.0, 360.0),
            0.0
        );
        // Friday 21:00 = midnight - 180 min: ramp starts, 0.
        assert_eq!(weekend_rejection(sat - 3 * 3600, 0.5, 180.0, 360.0), 0.0);
        // Saturday 00:00: 180 of 360 minutes into the ramp.
        assert!((weekend_rejection(sat, 0.5, 180.0, 360.0) - 0.25).abs() < 1e-9);
    }

    #[test]
    fn table_agrees_with_computation() {
        let from = day_of(2026, 1, 1) * DAY * 1000;
        let t = OffDays::new(from, from + 400 * DAY * 1000);
        for s in (0..(420 * DAY)).step_by(1800) {
            let x = from / 1000 - 10 * DAY + s;
            assert_eq!(
                t.rejection(x, 0.5, 180.0, 360.0),
                weekend_rejection(x, 0.5, 180.0, 360.0),
                "{x}"
            );
        }
    }

    #[test]
    fn warp_table_agrees_with_computation() {
        for damping in [0.09375, 0.5, -0.3, 0.0, 1e5, f64::NAN] {
            let mut w = Warp::new(damping);
            for t in (-3 * DAY..3 * DAY)
                .step_by(7)
                .chain([i64::MIN / 4, 1 << 40])
            {
                // Twice: computed, then from the table.
                assert_eq!(w.warp(t), daily_warp(t, damping), "{damping} {t}");
                assert_eq!(w.warp(t), daily_warp(t, damping), "{damping} {t}");
            }
        }
    }

    #[test]
    fn warp_blocks_give_every_second_its_computed_shift() {
        // Eventsim's default, ours, steeper than one a second (1/2π is
        // 0.159), negative, a huge one (no table), and NaN.
        for damping in [
            0.0625,
            0.09375,
            0.15,
            0.2,
            0.5,
            -0.3,
            0.0,
            3e4,
            1e5,
            f64::NAN,
        ] {
            let mut w = Warp::new(damping);
            // Seconds in a random order, so blocks are built from any second.
            let mut order: Vec<i64> = (0..DAY).collect();
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for i in (1..order.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            for s in order {
                let t = 20_000 * DAY + s;
                assert_eq!(w.warp(t), daily_warp(t, damping), "{damping} {s}");
            }
        }
    }

    #[test]
    fn warp_is_identity_at_3_and_15() {
        assert_eq!(daily_warp(3 * 3600, 0.1), 3 * 3600);
        assert_eq!(daily_warp(15 * 3600, 0.1), 15 * 3600);
        assert!(daily_warp(9 * 3600, 0.1) > 9 * 3600);
    }
}
