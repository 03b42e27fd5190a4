//! JSON encoding of simulated events in eventsim's two dialects.
//!
//! Everything that does not change from event to event is encoded once, when the
//! run starts ([`Tables`]): per state its page/auth/method/status/level, per
//! location its city/zip/state/lon/lat, per song its artist/title/duration, per
//! name its escaped string. An event is then a dozen `memcpy`s and three integer
//! formats, which is what makes the simulator fast.
//!
//! With several shards ([`Tables::encode`]) the `sessionId` value is left out:
//! its byte position is recorded, and the merge step (which assigns the global,
//! increasing ids in output order) writes it in. See [`super::merge`].
//!
//! With one ([`Tables::encode_lines`]) the messages are written as finished
//! lines straight into the output's buffers, and what repeats across events is
//! formatted once by the caller: the `{"ts":T,"sessionId":` head per distinct
//! timestamp, the session id per session, the user's id and registration per
//! user. An event is then about ten `memcpy`s, a few fixed-size copies and one
//! small integer (`itemInSession`).

use super::catalog::Catalog;
use super::model::Model;
use super::stream::{Dialect, Stream};
use crate::event::Table;

/// One message of a batch: `bytes[start..sid]`, then the session id, then
/// `bytes[sid..end]`.
#[derive(Debug, Clone, Copy)]
pub struct MsgRec {
    pub stream: Stream,
    pub start: u32,
    pub sid: u32,
    pub end: u32,
}

/// One event of a batch: its messages are `msgs[previous event's msg_end..msg_end]`.
#[derive(Debug, Clone, Copy)]
pub struct EvRec {
    pub ts: i64,
    /// The user's ordinal (0-based creation order): the tie-break of the output order.
    pub ordinal: u32,
    /// Which of the user's sessions this event belongs to (1, 2, ...).
    pub serial: u32,
    /// The user id, also the Kafka key.
    pub key: i64,
    pub msg_end: u32,
}

/// Encoded events of one shard, in (ts, ordinal) order.
#[derive(Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub events: Vec<EvRec>,
    pub msgs: Vec<MsgRec>,
    /// The parts every message of an event shares, encoded once per event.
    scratch: Vec<u8>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.events.clear();
        self.msgs.clear();
    }
}

/// Where the encoder appends messages.
pub trait MsgSink {
    /// The buffer the next message of `stream` is appended to.
    fn buf(&mut self, stream: Stream) -> &mut Vec<u8>;
    /// The message appended from `start` is complete; `sid` is where the
    /// session id goes (when it was not written).
    fn end(&mut self, stream: Stream, start: usize, sid: usize);
}

impl MsgSink for Batch {
    #[inline]
    fn buf(&mut self, _stream: Stream) -> &mut Vec<u8> {
        &mut self.bytes
    }
    #[inline]
    fn end(&mut self, stream: Stream, start: usize, sid: usize) {
        self.msgs.push(MsgRec {
            stream,
            start: start as u32,
            sid: sid as u32,
            end: self.bytes.len() as u32,
        });
    }
}

/// One message of the event being written: `bufs[buf][start..end]`, its `\n`
/// included.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub stream: Stream,
    pub buf: usize,
    pub start: usize,
    pub end: usize,
}

/// The lines of one event: at most four (page view, listen, auth, status
/// change), kept in an array rather than a `Vec` (no capacity check per
/// line, nothing to free).
#[derive(Debug, Clone, Copy)]
pub struct EventLines {
    n: usize,
    lines: [Line; 4],
}

impl Default for EventLines {
    fn default() -> Self {
        let none = Line {
            stream: Stream::Single,
            buf: 0,
            start: 0,
            end: 0,
        };
        EventLines {
            n: 0,
            lines: [none; 4],
        }
    }
}

impl EventLines {
    #[inline]
    pub fn clear(&mut self) {
        self.n = 0;
    }

    /// Adds a line; an event has four at most (a fifth would be a bug, and
    /// is dropped in release builds).
    #[inline]
    pub fn push(&mut self, l: Line) {
        debug_assert!(self.n < self.lines.len());
        if let Some(slot) = self.lines.get_mut(self.n) {
            *slot = l;
            self.n += 1;
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[Line] {
        &self.lines[..self.n.min(self.lines.len())]
    }
}

/// The user fields of an event whose auth shows details.
#[derive(Debug, Clone, Copy)]
pub struct UserRef<'a> {
    pub id: i64,
    pub first: u32,
    pub last: u32,
    pub registration_ms: i64,
    pub digits: &'a UserDigits,
}

/// What varies per event; everything else is looked up in [`Tables`].
#[derive(Debug, Clone, Copy)]
pub struct Ev<'a> {
    pub ts: i64,
    pub state: usize,
    pub item: u32,
    pub location: u32,
    pub user_agent: u32,
    pub user: Option<UserRef<'a>>,
    pub song: Option<u32>,
    /// The previous event of the session was a Login page: also an auth event.
    pub after_login: bool,
}

/// The parts of an event's messages encoded once per event.
struct Shared<'a> {
    /// `"ts":T,"sessionId":`
    head: &'a [u8],
    /// `,"itemInSession":N,` then the device and user fields.
    tail: &'a [u8],
}

/// Pre-encoded fragments.
pub struct Tables {
    dialect: Dialect,
    // per state
    pv_state: Vec<Vec<u8>>,
    auth_level: Vec<Vec<u8>>,
    level: Vec<Vec<u8>>,
    auth_j: Vec<Vec<u8>>,
    level_j: Vec<Vec<u8>>,
    method_j: Vec<Vec<u8>>,
    page_j: Vec<Vec<u8>>,
    status: Vec<i32>,
    success: Vec<bool>,
    status_change: Vec<bool>,
    // per location
    loc_a: Vec<Vec<u8>>,
    loc_b: Vec<Vec<u8>>,
    loc_single: Vec<Vec<u8>>,
    // per user agent
    ua: Vec<Vec<u8>>,
    /// Per (location, user agent): the whole device part, one copy per
    /// message, with its leading comma.
    device_bytes: Vec<u8>,
    device_off: Vec<u32>,
    n_ua: usize,
    // per song
    /// `,"artist":..,"song":..,"duration":..` (the listen message starts
    /// with it, its comma replaced by the brace).
    song_four: Vec<Vec<u8>>,
    artist_j: Vec<Vec<u8>>,
    title_j: Vec<Vec<u8>>,
    duration: Vec<Vec<u8>>,
    // per name
    first_j: Vec<Vec<u8>>,
    gender_j: Vec<&'static [u8]>,
    last_j: Vec<Vec<u8>>,
    /// `,"lastName":"..."` per surname.
    last_kv: Vec<Vec<u8>>,
    /// `,"firstName":"...","gender":"M"` per first name.
    first_kv: Vec<Vec<u8>>,
    /// `,"tag":"..."` or empty.
    tag: Vec<u8>,
    // Fragments of the one-thread path (`encode_lines`), joined so that an
    // event takes as few copies as possible.
    /// Per state: `,"page":..,"auth":..,"method":..,"status":..,"level":..,"itemInSession":`.
    pv_pre: Vec<Vec<u8>>,
    /// Per state: `,"auth":..,"level":..,"itemInSession":`.
    auth_level_pre: Vec<Vec<u8>>,
    /// Per state: `,"level":..,"itemInSession":`.
    level_pre: Vec<Vec<u8>>,
    /// The tag, `}` and `\n`; the same after `,"success":true` / `false`.
    end: Vec<u8>,
    /// The fragments copied in every event of the one-thread path, again, in
    /// one buffer padded by [`WIN`] bytes: copied in fixed-size chunks
    /// ([`put_frag`]) instead of a `memcpy` call each.
    hot: Vec<u8>,
    hot_pv_pre: Vec<Frag>,
    hot_auth_level_pre: Vec<Frag>,
    hot_last_kv: Vec<Frag>,
    hot_first_kv: Vec<Frag>,
    hot_song: Vec<Frag>,
    hot_end: Frag,
    /// What a page view line takes at most, plus [`WIN`]: reserved before
    /// the line's unchecked copies ([`put_frag`]); twice that for a listen.
    room: usize,
    success_end: Vec<u8>,
    failure_end: Vec<u8>,
}

/// What the one-thread path keeps formatted between events: a timestamp is
/// shared by several events in a row, a session id by a session.
pub struct Digits<'a> {
    /// `{"ts":T,"sessionId":` in its first `head_len` bytes (the array is
    /// longer, for fixed-size copies).
    pub head: &'a [u8; 40],
    pub head_len: usize,
    /// The session id in its first `sid_len` bytes.
    pub sid: &'a [u8; 19],
    pub sid_len: usize,
}

/// Appends the first `n` bytes of `window`. With `n` at most `N` (and the
/// window that long) it copies `N` bytes and counts only `n`: a fixed-size
/// copy is inlined, where one of the exact length calls `memcpy` (three
/// calls an event saved, for the head, the session id and the user's id),
/// and without a capacity check (the line's room is reserved once).
///
/// # Safety
///
/// `b` has at least `N` bytes of spare capacity (the line writers reserve
/// [`Tables::room`], which counts [`WIN`] >= `N` bytes of slack).
#[inline(always)]
unsafe fn put_window<const N: usize>(b: &mut Vec<u8>, window: &[u8], n: usize) {
    if n <= N && window.len() >= N {
        let len = b.len();
        debug_assert!(
            b.capacity() - len >= N,
            "put_window: no room for a {N}-byte copy"
        );
        // SAFETY: `window` has `N` bytes and is not `b` (borrowed shared
        // while `b` is borrowed mutably); `b` has room for `N` more (the
        // caller's promise); only the first `n <= N` are counted.
        unsafe {
            std::ptr::copy_nonoverlapping(window.as_ptr(), b.as_mut_ptr().add(len), N);
            b.set_len(len + n);
        }
    } else {
        b.extend_from_slice(&window[..n.min(window.len())]);
    }
}

/// Appends `src` without a capacity check (one `memcpy` still, for the
/// fragments of any length: the device, the listen message's tail).
///
/// # Safety
///
/// `b` has at least `src.len()` bytes of spare capacity.
#[inline(always)]
unsafe fn put_bytes(b: &mut Vec<u8>, src: &[u8]) {
    let len = b.len();
    debug_assert!(
        b.capacity() - len >= src.len(),
        "put_bytes: no room for {} bytes",
        src.len()
    );
    // SAFETY: `src` is not `b` (borrowed shared while `b` is borrowed
    // mutably); `b` has room for it (the caller's promise).
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), b.as_mut_ptr().add(len), src.len());
        b.set_len(len + src.len());
    }
}

/// `,"userId":`, copied with [`put_window`].
const USER_ID: &[u8; 10] = b",\"userId\":";

/// A fragment of [`Tables::hot`]: `hot[at..at + len]`.
#[derive(Debug, Clone, Copy)]
struct Frag {
    at: u32,
    len: u32,
}

fn frag(hot: &mut Vec<u8>, f: &[u8]) -> Frag {
    let at = hot.len() as u32;
    hot.extend_from_slice(f);
    Frag {
        at,
        len: f.len() as u32,
    }
}

/// What [`put_frag`] copies at most without `memcpy`, and the padding of
/// [`Tables::hot`].
const WIN: usize = 128;

/// Appends `src[at..at + n]`. When it is at most [`WIN`] bytes it copies
/// one to four 32-byte chunks and counts only the first `n` bytes:
/// straight-line vector moves instead of a `memcpy` call, and no capacity
/// check.
///
/// # Safety
///
/// `src[at..at + WIN]` is in bounds (`src` is [`Tables::hot`], padded) and
/// `b` has at least `WIN` bytes of spare capacity (the caller reserved
/// [`Tables::room`] for the line).
#[inline(always)]
unsafe fn put_frag(b: &mut Vec<u8>, src: &[u8], at: usize, n: usize) {
    let len = b.len();
    debug_assert!(
        src.len() >= at + WIN,
        "put_frag: fewer than {WIN} bytes to read at {at}"
    );
    debug_assert!(
        b.capacity() - len >= WIN,
        "put_frag: no room for a {WIN}-byte copy"
    );
    if n <= WIN {
        // SAFETY: the ranges are valid (see above); `src` and `b` are
        // distinct buffers (one borrowed shared, the other mutably). Only the
        // first `n <= WIN` bytes written are counted in the length.
        unsafe {
            let s = src.as_ptr().add(at);
            let d = b.as_mut_ptr().add(len);
            std::ptr::copy_nonoverlapping(s, d, 32);
            if n > 32 {
                std::ptr::copy_nonoverlapping(s.add(32), d.add(32), 32);
                if n > 64 {
                    std::ptr::copy_nonoverlapping(s.add(64), d.add(64), 32);
                    // A state's page view fields (about 100 bytes with
                    // eventsim's example config; with 96 bytes at most
                    // here, half of them took `memcpy`).
                    if n > 96 {
                        std::ptr::copy_nonoverlapping(s.add(96), d.add(96), 32);
                    }
                }
            }
            b.set_len(len + n);
        }
    } else {
        b.extend_from_slice(&src[at..at + n]);
    }
}

/// A user's `N,"registration":R` (id and registration time), formatted once
/// when the user is created since most messages carry it: the bytes, then
/// their length in the last byte (0: too long to cache, format per event).
/// The length comes last so that the bytes are copied as one 40-byte move
/// ([`put_window`]) however long the id.
pub type UserDigits = [u8; 40];

impl Tables {
    /// The user's cached fields (see [`UserDigits`]).
    pub fn user_digits(id: i64, registration_ms: i64) -> UserDigits {
        let mut d = [0u8; 40];
        // The usual case (done for every user at start-up) in fixed-size
        // moves: an id of at most 10 digits, a 13-digit registration.
        const REG: &[u8; 16] = b",\"registration\":";
        const ID_MAX: i64 = 10_000_000_000;
        if (0..ID_MAX).contains(&id)
            && (1_000_000_000_000..10_000_000_000_000).contains(&registration_ms)
        {
            let mut n = id as u64;
            let (mut len, mut p) = (1, 10);
            while len < 10 && n >= p {
                len += 1;
                p *= 10;
            }
            let mut i = len;
            while n >= 100 {
                i -= 2;
                let k = (n % 100) as usize * 2;
                d[i..i + 2].copy_from_slice(&PAIRS[k..k + 2]);
                n /= 100;
            }
            if n >= 10 {
                let k = n as usize * 2;
                d[..2].copy_from_slice(&PAIRS[k..k + 2]);
            } else {
                d[0] = b'0' + n as u8;
            }
            d[len..len + 16].copy_from_slice(REG);
            digits13(registration_ms as u64, &mut d[len + 16..len + 29]);
            d[39] = (len + 29) as u8;
            return d;
        }
        // The rest (ids past ten digits, odd registrations): any lengths.
        let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
        let parts: [&[u8]; 3] = [
            a.format(id).as_bytes(),
            b",\"registration\":",
            b.format(registration_ms).as_bytes(),
        ];
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if n < d.len() {
            d[d.len() - 1] = n as u8;
            let mut at = 0;
            for p in parts {
                d[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
        }
        d
    }
}

const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the last 2 * `out.len() / 2` decimal digits of `n`, zero-padded.
#[inline]
fn pairs(mut n: u64, out: &mut [u8]) {
    for c in out.rchunks_exact_mut(2) {
        let i = (n % 100) as usize * 2;
        c.copy_from_slice(&PAIRS[i..i + 2]);
        n /= 100;
    }
}

/// The 13 digits of `n` (below 10^13, at least 10^12: epoch milliseconds from
/// 2001 to 2286); cheaper than a general formatter since the width is known.
#[inline]
pub fn digits13(n: u64, out: &mut [u8]) {
    let (hi, lo) = (n / 100_000_000, n % 100_000_000);
    // hi has 5 digits: one, then two pairs.
    out[0] = b'0' + (hi / 10_000) as u8;
    pairs(hi % 10_000, &mut out[1..5]);
    pairs(lo, &mut out[5..13]);
}

/// The numbers below 1000: their digits, then their digit count in the
/// last byte (copied as one 4-byte move, only the digits counted).
const SMALL: [[u8; 4]; 1000] = {
    let mut t = [[0u8; 4]; 1000];
    let mut n = 0;
    while n < 1000 {
        let d = [(n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8];
        let len = if n < 10 {
            1
        } else if n < 100 {
            2
        } else {
            3
        };
        let mut k = 0;
        while k < len {
            t[n][k] = b'0' + d[3 - len + k];
            k += 1;
        }
        t[n][3] = len as u8;
        n += 1;
    }
    t
};

/// Appends `n`: most are item numbers in a session, below 1000, written
/// by one table lookup and one move instead of a general formatter.
///
/// # Safety
///
/// `b` has at least 4 bytes of spare capacity.
#[inline(always)]
unsafe fn small(b: &mut Vec<u8>, n: u32) {
    match SMALL.get(n as usize) {
        // SAFETY: the caller's promise.
        Some(d) => unsafe { put_window::<4>(b, d, d[3] as usize) },
        None => int(b, n as i64),
    }
}

/// Two different buffers of `bufs`: `a` to write, `b` to read.
#[inline]
fn two(bufs: &mut [Vec<u8>], a: usize, b: usize) -> (&mut Vec<u8>, &Vec<u8>) {
    if a < b {
        let (x, y) = bufs.split_at_mut(b);
        (&mut x[a], &y[0])
    } else {
        let (x, y) = bufs.split_at_mut(a);
        (&mut y[0], &x[b])
    }
}

/// Appends `src`, a range of `bufs[from]`, to `bufs[to]` (the same buffer or
/// another).
#[inline]
fn copy_between(bufs: &mut [Vec<u8>], from: usize, src: std::ops::Range<usize>, to: usize) {
    if from == to {
        bufs[to].extend_from_within(src);
    } else if from < to {
        let (a, b) = bufs.split_at_mut(to);
        b[0].extend_from_slice(&a[from][src]);
    } else {
        let (a, b) = bufs.split_at_mut(from);
        a[to].extend_from_slice(&b[0][src]);
    }
}

/// `v` as a JSON string. Most catalogue strings need no escape: quoted as
/// they are, which is what serde_json writes for them (it escapes `"`, `\`
/// and control characters only), without its buffer growing several times.
fn js(v: &str) -> Vec<u8> {
    if !v.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        let mut b = Vec::with_capacity(v.len() + 2);
        b.push(b'"');
        b.extend_from_slice(v.as_bytes());
        b.push(b'"');
        return b;
    }
    // Writing a str into a Vec cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn float(buf: &mut Vec<u8>, v: f64) {
    let mut b = ryu::Buffer::new();
    buf.extend_from_slice(b.format(v).as_bytes());
}

#[inline]
fn int(buf: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b.format(v).as_bytes());
}

fn kv(buf: &mut Vec<u8>, k: &str, v: &[u8]) {
    buf.push(b'"');
    buf.extend_from_slice(k.as_bytes());
    buf.extend_from_slice(b"\":");
    buf.extend_from_slice(v);
}

impl Tables {
    pub fn new(model: &Model, catalog: &Catalog, dialect: Dialect, tag: Option<&str>) -> Tables {
        let mut t = Tables {
            dialect,
            pv_state: vec![],
            auth_level: vec![],
            level: vec![],
            auth_j: vec![],
            level_j: vec![],
            method_j: vec![],
            page_j: vec![],
            status: vec![],
            success: vec![],
            status_change: vec![],
            loc_a: vec![],
            loc_b: vec![],
            loc_single: vec![],
            ua: vec![],
            device_bytes: vec![],
            device_off: vec![0],
            n_ua: 0,
            song_four: vec![],
            artist_j: vec![],
            title_j: vec![],
            duration: vec![],
            first_j: vec![],
            gender_j: vec![],
            last_j: vec![],
            last_kv: vec![],
            first_kv: vec![],
            tag: vec![],
            pv_pre: vec![],
            auth_level_pre: vec![],
            level_pre: vec![],
            end: vec![],
            hot: vec![],
            hot_pv_pre: vec![],
            hot_auth_level_pre: vec![],
            hot_last_kv: vec![],
            hot_first_kv: vec![],
            hot_song: vec![],
            hot_end: Frag { at: 0, len: 0 },
            room: 0,
            success_end: vec![],
            failure_end: vec![],
        };
        for st in &model.states {
            let (page, auth, method, level) =
                (js(&st.page), js(&st.auth), js(&st.method), js(&st.level));
            let mut pv = Vec::new();
            kv(&mut pv, "page", &page);
            pv.push(b',');
            kv(&mut pv, "auth", &auth);
            pv.push(b',');
            kv(&mut pv, "method", &method);
            pv.push(b',');
            kv(&mut pv, "status", st.status.to_string().as_bytes());
            pv.push(b',');
            kv(&mut pv, "level", &level);
            t.pv_state.push(pv);
            let mut al = Vec::new();
            kv(&mut al, "auth", &auth);
            al.push(b',');
            kv(&mut al, "level", &level);
            t.auth_level.push(al);
            let mut l = Vec::new();
            kv(&mut l, "level", &level);
            t.level.push(l);
            t.auth_j.push(auth);
            t.level_j.push(level);
            t.method_j.push(method);
            t.page_j.push(page);
            t.status.push(st.status);
            t.success.push(st.auth == "Logged In");
            t.status_change.push(st.is_status_change);
        }
        for loc in &catalog.locations {
            let mut a = Vec::new();
            kv(&mut a, "city", &js(&loc.city));
            a.push(b',');
            kv(&mut a, "zip", &js(&loc.zip));
            a.push(b',');
            kv(&mut a, "state", &js(&loc.state));
            t.loc_a.push(a);
            let mut b = Vec::new();
            b.extend_from_slice(b"\"lon\":");
            float(&mut b, loc.lon);
            b.extend_from_slice(b",\"lat\":");
            float(&mut b, loc.lat);
            t.loc_b.push(b);
            t.loc_single
                .push(js(&format!("{}, {}", loc.city, loc.state)));
        }
        t.ua = catalog.user_agents.iter().map(|u| js(u)).collect();
        t.n_ua = t.ua.len();
        for l in 0..t.loc_a.len() {
            for u in 0..t.n_ua {
                let d = &mut t.device_bytes;
                d.push(b',');
                d.extend_from_slice(&t.loc_a[l]);
                d.extend_from_slice(b",\"userAgent\":");
                d.extend_from_slice(&t.ua[u]);
                d.push(b',');
                d.extend_from_slice(&t.loc_b[l]);
                t.device_off.push(d.len() as u32);
            }
        }
        for song in &catalog.songs {
            let (a, s) = (js(&song.artist), js(&song.title));
            let mut d = Vec::with_capacity(24);
            float(&mut d, song.duration);
            let mut f = Vec::with_capacity(a.len() + s.len() + d.len() + 32);
            f.push(b',');
            kv(&mut f, "artist", &a);
            f.push(b',');
            kv(&mut f, "song", &s);
            f.push(b',');
            kv(&mut f, "duration", &d);
            t.song_four.push(f);
            t.artist_j.push(a);
            t.title_j.push(s);
            t.duration.push(d);
        }
        for (name, gender) in &catalog.first_names {
            t.first_j.push(js(name));
            t.gender_j
                .push(if *gender == "M" { b"\"M\"" } else { b"\"F\"" });
        }
        t.last_j = catalog.surnames.iter().map(|s| js(s)).collect();
        for l in &t.last_j {
            t.last_kv.push([b",\"lastName\":", &l[..]].concat());
        }
        for (f, g) in t.first_j.iter().zip(&t.gender_j) {
            t.first_kv
                .push([b",\"firstName\":", &f[..], b",\"gender\":", g].concat());
        }
        if let Some(tag) = tag {
            t.tag.extend_from_slice(b",\"tag\":");
            t.tag.extend_from_slice(&js(tag));
        }
        const ITEM: &[u8] = b",\"itemInSession\":";
        for i in 0..t.pv_state.len() {
            t.pv_pre.push([b",", &t.pv_state[i][..], ITEM].concat());
            t.auth_level_pre
                .push([b",", &t.auth_level[i][..], ITEM].concat());
            t.level_pre.push([b",", &t.level[i][..], ITEM].concat());
        }
        t.end = [&t.tag[..], b"}\n"].concat();
        t.success_end = [b",\"success\":true", &t.tag[..], b"}\n"].concat();
        t.failure_end = [b",\"success\":false", &t.tag[..], b"}\n"].concat();
        let mut hot = Vec::new();
        let mut add = |v: &[Vec<u8>]| v.iter().map(|f| frag(&mut hot, f)).collect();
        t.hot_pv_pre = add(&t.pv_pre);
        t.hot_auth_level_pre = add(&t.auth_level_pre);
        t.hot_last_kv = add(&t.last_kv);
        t.hot_first_kv = add(&t.first_kv);
        t.hot_song = add(&t.song_four);
        t.hot_end = frag(&mut hot, &t.end);
        hot.resize(hot.len() + WIN, 0);
        // Exactly as long as padded: a read past the padding is then out of
        // the allocation, which AddressSanitizer reports (scripts/tests/sim-unsafe.sh).
        hot.shrink_to_fit();
        t.hot = hot;
        let max = |v: &[Vec<u8>]| v.iter().map(|f| f.len()).max().unwrap_or(0);
        let device = t
            .device_off
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0);
        // Head and session id (40 + 19), the item (10), the user's id and
        // registration (at most 11 + 20 + 16 + 20), and slack.
        t.room = WIN
            + 256
            + 40
            + 19
            + max(&t.pv_pre)
            + 10
            + device
            + 67
            + max(&t.last_kv)
            + max(&t.first_kv)
            + max(&t.song_four)
            + t.end.len();
        t
    }

    /// Appends the event's messages to the batch, the session id left as a hole
    /// for the merge to fill.
    pub fn encode(&self, e: &Ev<'_>, ordinal: u32, serial: u32, key: i64, b: &mut Batch) {
        let mut scratch = std::mem::take(&mut b.scratch);
        self.encode_to(e, None, &mut scratch, b);
        b.scratch = scratch;
        b.events.push(EvRec {
            ts: e.ts,
            ordinal,
            serial,
            key,
            msg_end: b.msgs.len() as u32,
        });
    }

    /// Writes the event's messages to `sink`; with `sid` (the session id's
    /// digits) they are complete, else the id's place is reported to the sink.
    pub fn encode_to<S: MsgSink>(
        &self,
        e: &Ev<'_>,
        sid: Option<&[u8]>,
        scratch: &mut Vec<u8>,
        sink: &mut S,
    ) {
        match self.dialect {
            Dialect::Single => Self::msg(sink, Stream::Single, |buf| self.single(buf, e, sid)),
            Dialect::Four => {
                // `"ts":T,"sessionId":` and `,"itemInSession":N,<device><user>`
                // are the same in every message of the event: encode them once.
                let sc = scratch;
                sc.clear();
                sc.extend_from_slice(b"\"ts\":");
                int(sc, e.ts);
                sc.extend_from_slice(b",\"sessionId\":");
                if let Some(d) = sid {
                    sc.extend_from_slice(d);
                }
                let h = sc.len();
                sc.extend_from_slice(b",\"itemInSession\":");
                int(sc, e.item as i64);
                self.device(sc, e);
                self.user(sc, e);
                let p = Shared {
                    head: &sc[..h],
                    tail: &sc[h..],
                };
                Self::msg(sink, Stream::Topic(Table::PageView), |buf| {
                    self.page_view(buf, e, &p)
                });
                if let Some(song) = e.song {
                    Self::msg(sink, Stream::Topic(Table::Listen), |buf| {
                        self.listen(buf, &p, song as usize, e.state)
                    });
                }
                if e.after_login {
                    Self::msg(sink, Stream::Topic(Table::Auth), |buf| {
                        self.auth(buf, &p, e.state)
                    });
                }
                if self.status_change[e.state] {
                    Self::msg(sink, Stream::Topic(Table::StatusChange), |buf| {
                        self.status_change(buf, &p, e.state)
                    });
                }
            }
        }
    }

    /// The one-thread path: appends the event's messages as complete lines
    /// (`\n` included) to `bufs`, `routes` giving the buffer of each stream
    /// (the four topics, then the single stream), and records them in `lines`.
    ///
    /// The page view is written first, field by field; the other messages of
    /// the event copy their shared parts (`"ts":T,"sessionId":S` and
    /// everything from `itemInSession` to the user's fields) from it.
    #[inline(never)]
    pub fn encode_lines(
        &self,
        e: &Ev<'_>,
        d: &Digits<'_>,
        bufs: &mut [Vec<u8>],
        routes: &[usize; 5],
        lines: &mut EventLines,
    ) {
        if self.dialect == Dialect::Single {
            let (i, stream) = (routes[4], Stream::Single);
            let b = &mut bufs[i];
            let start = b.len();
            self.single(b, e, Some(&d.sid[..d.sid_len]));
            b.push(b'\n');
            lines.push(Line {
                stream,
                buf: i,
                start,
                end: b.len(),
            });
            return;
        }
        let pv = routes[Table::PageView.index()];
        let b = &mut bufs[pv];
        b.reserve(self.room);
        let start = b.len();
        // SAFETY: `room` reserved just above.
        unsafe {
            put_window::<32>(b, d.head, d.head_len);
            put_window::<16>(b, d.sid, d.sid_len);
        }
        let head = start + 1;
        let head_end = b.len();
        // SAFETY: `room` reserved at the start of the line.
        unsafe { self.put_hot(b, self.hot_pv_pre[e.state]) };
        let tail = b.len();
        // SAFETY: `room` reserved at the start of the line.
        unsafe { small(b, e.item) };
        let dev = self.device_of(e);
        // SAFETY: `room` counts the longest device part.
        unsafe { put_bytes(b, dev) };
        if let Some(u) = &e.user {
            let n = u.digits[u.digits.len() - 1] as usize;
            if n > 0 {
                // SAFETY: `room` reserved at the start of the line.
                unsafe {
                    put_window::<10>(b, USER_ID, USER_ID.len());
                    put_window::<40>(b, u.digits, n);
                }
            } else {
                b.extend_from_slice(b",\"userId\":");
                int(b, u.id);
                b.extend_from_slice(b",\"registration\":");
                int(b, u.registration_ms);
            }
            // SAFETY: `room` reserved at the start of the line.
            unsafe { self.put_hot(b, self.hot_last_kv[u.last as usize]) };
            // SAFETY: `room` reserved at the start of the line.
            unsafe { self.put_hot(b, self.hot_first_kv[u.first as usize]) };
        }
        let tail_end = b.len();
        if let Some(s) = e.song {
            // SAFETY: `room` reserved at the start of the line.
            unsafe { self.put_hot(b, self.hot_song[s as usize]) };
        }
        // SAFETY: `room` reserved at the start of the line.
        unsafe { self.put_hot(b, self.hot_end) };
        let end = b.len();
        lines.push(Line {
            stream: Stream::Topic(Table::PageView),
            buf: pv,
            start,
            end,
        });
        if let Some(s) = e.song {
            // `{"artist":..,"song":..,"duration":..,`, the head (from the
            // cached digits: cheaper than a copy from the page view), the
            // state's fields, the tail.
            let song = self.hot_song[s as usize];
            let i = routes[Table::Listen.index()];
            let start;
            if i == pv {
                start = bufs[i].len();
                self.listen_line(&mut bufs[i], song, d, e.state, None, tail..tail_end);
            } else {
                let (l, p) = two(bufs, i, pv);
                start = l.len();
                self.listen_line(l, song, d, e.state, Some(p), tail..tail_end);
            }
            lines.push(Line {
                stream: Stream::Topic(Table::Listen),
                buf: i,
                start,
                end: bufs[i].len(),
            });
        }
        if e.after_login || self.status_change[e.state] {
            self.rare_lines(e, bufs, routes, lines, (head..head_end, tail..tail_end));
        }
    }

    /// The listen message into `l`; the tail is copied from the page view,
    /// in `pv`, or in `l` itself when both streams share a buffer.
    #[inline(always)]
    fn listen_line(
        &self,
        l: &mut Vec<u8>,
        song: Frag,
        d: &Digits<'_>,
        state: usize,
        pv: Option<&Vec<u8>>,
        tail: std::ops::Range<usize>,
    ) {
        // The line is at most the page view's `room` plus the song, head and
        // state fields (less than another `room`).
        l.reserve(2 * self.room);
        // `{` and the song's fields: the fragment starts with a comma,
        // replaced; then `,` and the head, whose `{` is replaced.
        let start = l.len();
        // SAFETY: `room` reserved above.
        unsafe { self.put_hot(l, song) };
        l[start] = b'{';
        let head = l.len();
        // SAFETY: as above.
        unsafe {
            put_window::<32>(l, d.head, d.head_len);
            put_window::<16>(l, d.sid, d.sid_len);
        }
        l[head] = b',';
        // SAFETY: `room` reserved at the start of the line.
        unsafe { self.put_hot(l, self.hot_auth_level_pre[state]) };
        match pv {
            // SAFETY: the tail is part of a page view line, shorter than
            // the `room` left.
            Some(p) => unsafe { put_bytes(l, &p[tail]) },
            None => l.extend_from_within(tail),
        }
        // SAFETY: `room` reserved at the start of the line.
        unsafe { self.put_hot(l, self.hot_end) };
    }

    /// Auth and status change messages (one event in seventy): `{`, the
    /// head, the state's fields, the tail, what ends the message, the head
    /// and tail copied from the page view.
    #[cold]
    #[inline(never)]
    fn rare_lines(
        &self,
        e: &Ev<'_>,
        bufs: &mut [Vec<u8>],
        routes: &[usize; 5],
        lines: &mut EventLines,
        (head, tail): (std::ops::Range<usize>, std::ops::Range<usize>),
    ) {
        let pv = routes[Table::PageView.index()];
        let mut other = |table: Table, fields: &[u8], fin: &[u8]| {
            let i = routes[table.index()];
            let start = bufs[i].len();
            bufs[i].push(b'{');
            copy_between(bufs, pv, head.clone(), i);
            bufs[i].extend_from_slice(fields);
            copy_between(bufs, pv, tail.clone(), i);
            bufs[i].extend_from_slice(fin);
            lines.push(Line {
                stream: Stream::Topic(table),
                buf: i,
                start,
                end: bufs[i].len(),
            });
        };
        if e.after_login {
            let fin = if self.success[e.state] {
                &self.success_end
            } else {
                &self.failure_end
            };
            other(Table::Auth, &self.level_pre[e.state], fin);
        }
        if self.status_change[e.state] {
            other(
                Table::StatusChange,
                &self.auth_level_pre[e.state],
                &self.end,
            );
        }
    }

    /// [`put_frag`] of a fragment of [`Tables::hot`].
    ///
    /// # Safety
    ///
    /// `b` has [`WIN`] bytes of spare capacity (the line writers reserve
    /// [`Tables::room`] first).
    #[inline(always)]
    unsafe fn put_hot(&self, b: &mut Vec<u8>, f: Frag) {
        // SAFETY: a `Frag` is a range of `hot`, padded by `WIN` bytes; the
        // capacity is the caller's promise.
        unsafe { put_frag(b, &self.hot, f.at as usize, f.len as usize) }
    }

    #[inline]
    fn msg<S: MsgSink>(sink: &mut S, stream: Stream, f: impl FnOnce(&mut Vec<u8>) -> usize) {
        let buf = sink.buf(stream);
        let start = buf.len();
        let sid = f(buf);
        sink.end(stream, start, sid);
    }

    /// The shared head, and returns where the session id goes.
    #[inline]
    fn head(buf: &mut Vec<u8>, p: &Shared<'_>) -> usize {
        buf.extend_from_slice(p.head);
        buf.len()
    }

    #[inline]
    fn device(&self, buf: &mut Vec<u8>, e: &Ev) {
        buf.extend_from_slice(self.device_of(e));
    }

    /// The event's device part, its leading comma included.
    #[inline]
    fn device_of(&self, e: &Ev) -> &[u8] {
        let i = e.location as usize * self.n_ua + e.user_agent as usize;
        let (a, b) = (self.device_off[i] as usize, self.device_off[i + 1] as usize);
        &self.device_bytes[a..b]
    }

    #[inline]
    fn user(&self, buf: &mut Vec<u8>, e: &Ev) {
        if let Some(u) = &e.user {
            buf.extend_from_slice(b",\"userId\":");
            int(buf, u.id);
            buf.extend_from_slice(b",\"registration\":");
            int(buf, u.registration_ms);
            buf.extend_from_slice(&self.last_kv[u.last as usize]);
            buf.extend_from_slice(&self.first_kv[u.first as usize]);
        }
    }

    /// `page_view_events`: every event.
    fn page_view(&self, buf: &mut Vec<u8>, e: &Ev<'_>, p: &Shared<'_>) -> usize {
        buf.push(b'{');
        let sid = Self::head(buf, p);
        buf.push(b',');
        buf.extend_from_slice(&self.pv_state[e.state]);
        buf.extend_from_slice(p.tail);
        if let Some(s) = e.song {
            buf.extend_from_slice(&self.song_four[s as usize]);
        }
        buf.extend_from_slice(&self.tag);
        buf.push(b'}');
        sid
    }

    /// `listen_events`: NextSong pages.
    fn listen(&self, buf: &mut Vec<u8>, p: &Shared<'_>, song: usize, state: usize) -> usize {
        buf.push(b'{');
        buf.extend_from_slice(&self.song_four[song][1..]);
        buf.push(b',');
        let sid = Self::head(buf, p);
        buf.push(b',');
        buf.extend_from_slice(&self.auth_level[state]);
        buf.extend_from_slice(p.tail);
        buf.extend_from_slice(&self.tag);
        buf.push(b'}');
        sid
    }

    /// `auth_events`: the event right after a Login page; no `auth` field,
    /// `success` when the new auth is Logged In.
    fn auth(&self, buf: &mut Vec<u8>, p: &Shared<'_>, state: usize) -> usize {
        buf.push(b'{');
        let sid = Self::head(buf, p);
        buf.push(b',');
        buf.extend_from_slice(&self.level[state]);
        buf.extend_from_slice(p.tail);
        buf.extend_from_slice(if self.success[state] {
            b",\"success\":true"
        } else {
            b",\"success\":false"
        });
        buf.extend_from_slice(&self.tag);
        buf.push(b'}');
        sid
    }

    /// `status_change_events`: Submit Upgrade / Submit Downgrade; `level` is the
    /// level before the change (the state's own level).
    fn status_change(&self, buf: &mut Vec<u8>, p: &Shared<'_>, state: usize) -> usize {
        buf.push(b'{');
        let sid = Self::head(buf, p);
        buf.push(b',');
        buf.extend_from_slice(&self.auth_level[state]);
        buf.extend_from_slice(p.tail);
        buf.extend_from_slice(&self.tag);
        buf.push(b'}');
        sid
    }

    /// The single-stream dialect: 18 keys in sorted order, nulls where hidden,
    /// `length`, `location` ("City, ST"), `userId` a string, `registration` a float.
    fn single(&self, buf: &mut Vec<u8>, e: &Ev<'_>, sid_digits: Option<&[u8]>) -> usize {
        const NULL: &[u8] = b"null";
        let u = e.user.as_ref();
        let song = e.song.map(|s| s as usize);
        buf.extend_from_slice(b"{\"artist\":");
        buf.extend_from_slice(song.map_or(NULL, |s| &self.artist_j[s]));
        buf.extend_from_slice(b",\"auth\":");
        buf.extend_from_slice(&self.auth_j[e.state]);
        buf.extend_from_slice(b",\"firstName\":");
        buf.extend_from_slice(u.map_or(NULL, |u| &self.first_j[u.first as usize]));
        buf.extend_from_slice(b",\"gender\":");
        buf.extend_from_slice(u.map_or(NULL, |u| self.gender_j[u.first as usize]));
        buf.extend_from_slice(b",\"itemInSession\":");
        int(buf, e.item as i64);
        buf.extend_from_slice(b",\"lastName\":");
        buf.extend_from_slice(u.map_or(NULL, |u| &self.last_j[u.last as usize]));
        buf.extend_from_slice(b",\"length\":");
        buf.extend_from_slice(song.map_or(NULL, |s| &self.duration[s]));
        buf.extend_from_slice(b",\"level\":");
        buf.extend_from_slice(&self.level_j[e.state]);
        buf.extend_from_slice(b",\"location\":");
        buf.extend_from_slice(u.map_or(NULL, |_| &self.loc_single[e.location as usize]));
        buf.extend_from_slice(b",\"method\":");
        buf.extend_from_slice(&self.method_j[e.state]);
        buf.extend_from_slice(b",\"page\":");
        buf.extend_from_slice(&self.page_j[e.state]);
        buf.extend_from_slice(b",\"registration\":");
        match u {
            Some(u) => {
                int(buf, u.registration_ms);
                buf.extend_from_slice(b".0");
            }
            None => buf.extend_from_slice(NULL),
        }
        buf.extend_from_slice(b",\"sessionId\":");
        if let Some(d) = sid_digits {
            buf.extend_from_slice(d);
        }
        let sid = buf.len();
        buf.extend_from_slice(b",\"song\":");
        buf.extend_from_slice(song.map_or(NULL, |s| &self.title_j[s]));
        buf.extend_from_slice(b",\"status\":");
        int(buf, self.status[e.state] as i64);
        buf.extend_from_slice(b",\"ts\":");
        int(buf, e.ts);
        buf.extend_from_slice(b",\"userAgent\":");
        buf.extend_from_slice(u.map_or(NULL, |_| &self.ua[e.user_agent as usize]));
        buf.extend_from_slice(b",\"userId\":");
        match u {
            Some(u) => {
                buf.push(b'"');
                int(buf, u.id);
                buf.push(b'"');
            }
            None => buf.extend_from_slice(b"\"\""),
        }
        buf.extend_from_slice(&self.tag);
        buf.push(b'}');
        sid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_and_small_numbers_match_the_general_formatter() {
        let mut d = [0u8; 13];
        for n in [
            1_000_000_000_000u64,
            1_793_577_600_123,
            9_999_999_999_999,
            4_000_000_000_009,
        ] {
            digits13(n, &mut d);
            assert_eq!(&d[..], n.to_string().as_bytes());
        }
        for n in (0..2000).chain([9_999, 123_456, u32::MAX]) {
            let mut b = b"x".to_vec();
            b.reserve(4);
            // SAFETY: reserved above.
            unsafe { small(&mut b, n) };
            assert_eq!(&b[1..], n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn js_is_serde_jsons_string() {
        for v in [
            "",
            "Abbott Sound",
            "a\"b",
            "back\\slash",
            "tab\t",
            "\u{1}\u{1f}\u{7f}",
            "Zoë – ☃",
        ] {
            assert_eq!(js(v), serde_json::to_vec(v).unwrap(), "{v:?}");
        }
    }

    #[test]
    fn user_digits_hold_the_id_and_registration() {
        let d = Tables::user_digits(42, 1_793_577_600_000);
        let n = d[39] as usize;
        assert_eq!(&d[..n], b"42,\"registration\":1793577600000");
        let d = Tables::user_digits(7, 999_999_999_999);
        let n = d[39] as usize;
        assert_eq!(&d[..n], b"7,\"registration\":999999999999");
        // Ids up to 10 digits, and longer (then not cached: length 0).
        let regs = [1_000_000_000_000, 1_793_577_600_123, 9_999_999_999_999];
        let ids = (0..24).scan(0i64, |id, _| {
            *id = *id * 3 + 1;
            Some(*id)
        });
        for id in ids.chain([0, 9, 10, 99, 100, 9_999_999_999, 10_000_000_000]) {
            for r in regs {
                let d = Tables::user_digits(id, r);
                let want = format!("{id},\"registration\":{r}");
                let n = if want.len() < 40 { want.len() } else { 0 };
                assert_eq!(d[39] as usize, n, "{id}");
                assert_eq!(&d[..n], &want.as_bytes()[..n], "{id}");
            }
        }
        // Too long to cache: length 0, formatted per event instead.
        assert_eq!(Tables::user_digits(i64::MAX, i64::MIN)[39], 0);
    }

    #[test]
    fn put_window_appends_exactly_n_bytes() {
        let window = *b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?";
        for n in 0..=window.len() {
            let mut b = b"<".to_vec();
            b.reserve(2 * window.len());
            // SAFETY: reserved above.
            unsafe {
                put_window::<16>(&mut b, &window, n);
                put_window::<32>(&mut b, &window, n);
            }
            let mut want = b"<".to_vec();
            want.extend_from_slice(&window[..n]);
            want.extend_from_slice(&window[..n]);
            assert_eq!(b, want, "{n}");
        }
        // A window shorter than N: an exact copy.
        let mut b = vec![];
        // SAFETY: this copy does not rely on the capacity.
        unsafe { put_window::<32>(&mut b, b"abc", 2) };
        assert_eq!(b, b"ab");
    }

    // The unchecked copies check their room in builds with debug assertions
    // (scripts/tests/sim-unsafe.sh runs the tests so, and requires these
    // three to pass): a reserve too small for a line panics there instead of
    // writing past the buffer. The buffers here have no room at all.

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "put_window: no room")]
    fn put_window_checks_its_room() {
        let mut b: Vec<u8> = Vec::new();
        // SAFETY: none: the debug assertion stops it first (the point here).
        unsafe { put_window::<16>(&mut b, b"0123456789abcdef", 3) };
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "put_bytes: no room")]
    fn put_bytes_checks_its_room() {
        let mut b: Vec<u8> = Vec::new();
        // SAFETY: none: the debug assertion stops it first (the point here).
        unsafe { put_bytes(&mut b, b"abc") };
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "put_frag: fewer than")]
    fn put_frag_checks_its_room() {
        let mut b: Vec<u8> = Vec::with_capacity(2 * WIN);
        // A fragment whose source is not padded by WIN bytes.
        let src = [b'x'; 8];
        // SAFETY: none: the debug assertion stops it first (the point here).
        unsafe { put_frag(&mut b, &src, 0, 4) };
    }
}
