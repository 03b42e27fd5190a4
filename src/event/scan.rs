//! A JSON scanner for eventsim's flat event objects.
//!
//! Why not serde_json: its generic visitor was most of the decoder's time (about
//! 3 µs a message), a third of it in the allocator, because `userAgent` is
//! always escaped (`"\"Mozilla/5.0 …\""`) and a `Cow` of an escaped string must
//! own a copy. This scanner knows the event's fields, borrows every unescaped
//! string from the payload, and writes escaped ones into one scratch buffer per
//! decoder (reused for every message), so a message costs no allocation at all.
//!
//! It is still a full JSON parser for what it reads: the whole message is checked
//! (unknown fields, nested values and all), the error kinds are the ones the
//! serde reference gives (`not_json` for syntax, `wrong_type` for a field of the
//! wrong type or a duplicate field), and the field types are serde's
//! (`tests/decode_scanner.rs` compares the two on real and broken input).

use std::borrow::Cow;

use super::raw::{DecodeError, RawEvent};

/// Nesting limit of ignored values, as serde_json's.
const MAX_DEPTH: usize = 128;

/// Index of the first byte at or after `i` that ends a string's plain run (see
/// [`SPECIAL`]). Strings are most of a message: on x86_64, sixteen bytes at a
/// time with SSE2 (part of the architecture's baseline, so no feature check
/// and no set-up: a user agent, ~130 bytes, is nine steps), then, and on
/// other targets, eight at a time (SWAR), then byte by byte. (A generic SIMD
/// search, such as memchr's, costs more to set up than most strings take.)
fn plain_run(b: &[u8], mut i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        while let Some(chunk) = b.get(i..i + 16) {
            // SAFETY: `chunk` is 16 readable bytes and the load is unaligned;
            // SSE2 is enabled on every x86_64 target.
            let hits = unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                // Unsigned x <= 0x1f: max(x, 0x1f) == 0x1f.
                let low = _mm_set1_epi8(0x1f);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(x, low), low);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
            };
            if hits != 0 {
                return Some(i + hits.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        // High bit set in the lowest byte that is '"', '\\' or < 0x20 (bytes
        // above the first hit may be flagged spuriously by borrows; only the
        // lowest one is used).
        let zero_at = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let hits = zero_at(x ^ (ONES * b'"' as u64))
            | zero_at(x ^ (ONES * b'\\' as u64))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| SPECIAL[c as usize])
        .map(|n| i + n)
}

/// Bytes that end the plain run of a string: its closing quote, an escape, or a
/// control character (not allowed in JSON strings).
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Declares the fields we read: the enum (its position is the bit in the
/// "seen" mask), the list of all of them, and each one's JSON name and
/// compact key, from one table.
macro_rules! fields {
    ($($field:ident = $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Field {
            $($field,)*
        }

        const ALL_FIELDS: [Field; 26] = [$(Field::$field,)*];

        impl Field {
            fn name(self) -> &'static str {
                match self {
                    $(Field::$field => $name,)*
                }
            }

            /// The key as it appears in compact JSON, quotes and colon
            /// included: what the key prediction compares.
            const fn json_key(self) -> &'static [u8] {
                match self {
                    $(Field::$field => concat!("\"", $name, "\":").as_bytes(),)*
                }
            }

            #[cfg(test)]
            fn from_key_slow(key: &str) -> Option<Field> {
                match key {
                    $($name => Some(Field::$field),)*
                    _ => None,
                }
            }
        }
    };
}

fields! {
    Ts = "ts",
    SessionId = "sessionId",
    Page = "page",
    Auth = "auth",
    Method = "method",
    Status = "status",
    Level = "level",
    ItemInSession = "itemInSession",
    City = "city",
    Zip = "zip",
    State = "state",
    Location = "location",
    UserAgent = "userAgent",
    Lat = "lat",
    Lon = "lon",
    UserId = "userId",
    LastName = "lastName",
    FirstName = "firstName",
    Gender = "gender",
    Registration = "registration",
    Artist = "artist",
    Song = "song",
    Duration = "duration",
    Length = "length",
    Success = "success",
    Tag = "tag",
}

impl Field {
    /// The field a key names. Dispatches on (length, first, last byte), which
    /// tells every field apart, then checks the whole key once.
    fn from_key(key: &str) -> Option<Field> {
        use Field::*;
        let k = key.as_bytes();
        let (&first, &last) = (k.first()?, k.last()?);
        let f = match (k.len(), first, last) {
            (2, b't', b's') => Ts,
            (9, b's', b'd') => SessionId,
            (4, b'p', b'e') => Page,
            (4, b'a', b'h') => Auth,
            (6, b'm', b'd') => Method,
            (6, b's', b's') => Status,
            (5, b'l', b'l') => Level,
            (13, b'i', b'n') => ItemInSession,
            (4, b'c', b'y') => City,
            (3, b'z', b'p') => Zip,
            (5, b's', b'e') => State,
            (8, b'l', b'n') => Location,
            (9, b'u', b't') => UserAgent,
            (3, b'l', b't') => Lat,
            (3, b'l', b'n') => Lon,
            (6, b'u', b'd') => UserId,
            (8, b'l', b'e') => LastName,
            (9, b'f', b'e') => FirstName,
            (6, b'g', b'r') => Gender,
            (12, b'r', b'n') => Registration,
            (6, b'a', b't') => Artist,
            (4, b's', b'g') => Song,
            (8, b'd', b'n') => Duration,
            (6, b'l', b'h') => Length,
            (7, b's', b's') => Success,
            (3, b't', b'g') => Tag,
            _ => return None,
        };
        (f.name() == key).then_some(f)
    }

    /// The event's field for a key read as a 64-bit integer.
    fn i64_field<'e>(self, ev: &'e mut RawEvent<'_>) -> Option<&'e mut Option<i64>> {
        use Field::*;
        Some(match self {
            Ts => &mut ev.ts,
            SessionId => &mut ev.session_id,
            Registration => &mut ev.registration,
            UserId => &mut ev.user_id,
            _ => return None,
        })
    }

    /// The event's field for a key read as a 32-bit integer.
    fn i32_field<'e>(self, ev: &'e mut RawEvent<'_>) -> Option<&'e mut Option<i32>> {
        use Field::*;
        Some(match self {
            Status => &mut ev.status,
            ItemInSession => &mut ev.item_in_session,
            _ => return None,
        })
    }

    /// The event's field for a key read as a float.
    fn f64_field<'e>(self, ev: &'e mut RawEvent<'_>) -> Option<&'e mut Option<f64>> {
        use Field::*;
        Some(match self {
            Lat => &mut ev.lat,
            Lon => &mut ev.lon,
            Duration => &mut ev.duration,
            Length => &mut ev.length,
            _ => return None,
        })
    }

    /// The event's field for a string-valued key.
    fn str_field<'e, 'a>(self, ev: &'e mut RawEvent<'a>) -> Option<&'e mut Option<Cow<'a, str>>> {
        use Field::*;
        Some(match self {
            Page => &mut ev.page,
            Auth => &mut ev.auth,
            Method => &mut ev.method,
            Level => &mut ev.level,
            City => &mut ev.city,
            Zip => &mut ev.zip,
            State => &mut ev.state,
            Location => &mut ev.location,
            UserAgent => &mut ev.user_agent,
            LastName => &mut ev.last_name,
            FirstName => &mut ev.first_name,
            Gender => &mut ev.gender,
            Artist => &mut ev.artist,
            Song => &mut ev.song,
            Tag => &mut ev.tag,
            _ => return None,
        })
    }
}

/// Each field's compact key (`"name":`, at most 16 bytes) as two little-endian
/// words with their masks, and its length: see [`Scanner::key_here`].
const KEY_WORDS: [(u64, u64, u64, u64, usize); 26] = {
    let mut t = [(0, 0, 0, 0, 0); 26];
    let mut f = 0;
    while f < 26 {
        assert!(ALL_FIELDS[f] as usize == f);
        let k = ALL_FIELDS[f].json_key();
        assert!(k.len() <= 16);
        let (mut lo, mut hi, mut mask_lo, mut mask_hi) = (0u64, 0u64, 0u64, 0u64);
        let mut i = 0;
        while i < k.len() {
            if i < 8 {
                lo |= (k[i] as u64) << (8 * i);
                mask_lo |= 0xff << (8 * i);
            } else {
                hi |= (k[i] as u64) << (8 * (i - 8));
                mask_hi |= 0xff << (8 * (i - 8));
            }
            i += 1;
        }
        t[f] = (lo, hi, mask_lo, mask_hi, k.len());
        f += 1;
    }
    t
};

/// String fields that can be escaped at once (every string field).
const STR_FIELDS: usize = 15;

/// What a decoder keeps between messages: the buffer escaped strings are
/// unescaped into, and the key order of the last message.
///
/// Eventsim writes the messages of a topic with the same keys in the same
/// order (a few layouts: guests lack the user fields, songs add artist/song/
/// duration at the end), so the previous message's order predicts the next
/// key: comparing the expected `"key":` in place is much cheaper than scanning
/// the key and looking it up. A wrong prediction costs one comparison.
#[derive(Default)]
pub struct Scratch {
    buf: String,
    template: Vec<Option<Field>>,
}

/// A JSON string as it appears between its quotes.
#[derive(Debug, Clone, Copy)]
struct JStr<'a> {
    raw: &'a str,
    escaped: bool,
}

/// A scanned value. Composite values (arrays, objects) are checked and skipped.
enum Val<'a> {
    Null,
    Bool(bool),
    Str(JStr<'a>),
    /// A number's text (grammar checked) and whether it is an integer.
    Num(&'a str, bool),
    Composite(&'static str),
}

impl Val<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Str(_) => "a string",
            Val::Num(_, true) => "an integer",
            Val::Num(_, false) => "a floating point number",
            Val::Composite(k) => k,
        }
    }
}

/// The event as scanned: final except for strings with escapes, which wait
/// for the buffer they are unescaped into to be final (see [`scan_into`]).
struct Scanned<'e, 'a> {
    ev: &'e mut RawEvent<'a>,
    /// Where escaped strings are unescaped to (cleared for each message).
    buf: &'e mut String,
    escaped: [Option<(Field, Escaped<'a>)>; STR_FIELDS],
    n_escaped: usize,
    /// A `userId` string with escapes (its raw text), parsed in
    /// [`Scanned::unescape_rest`].
    user_id_escaped: Option<&'a str>,
}

/// The escaped string fields of a message and their unescaped bytes in the
/// buffer (`from..to`).
type Unescaped = [Option<(Field, usize, usize)>; STR_FIELDS];

/// A string field with escapes: its raw text, to unescape when the message
/// is scanned, or already unescaped into the buffer (these bytes of it).
#[derive(Clone, Copy)]
enum Escaped<'a> {
    Raw(&'a str),
    Done(usize, usize),
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

#[cold]
fn syntax(what: &str, at: usize) -> DecodeError {
    DecodeError::NotJson(format!("{what} at byte {at}"))
}

#[cold]
fn wrong(field: Field, expected: &str, got: &Val<'_>) -> DecodeError {
    DecodeError::WrongType(format!(
        "field `{}`: expected {expected}, found {}",
        field.name(),
        got.kind()
    ))
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), DecodeError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    #[cold]
    fn unexpected(&self, what: &str) -> DecodeError {
        if self.i >= self.b.len() {
            syntax(&format!("end of input, expected {what}"), self.i)
        } else {
            syntax(&format!("expected {what}"), self.i)
        }
    }

    /// A string; `self.i` is just past its opening quote.
    fn string(&mut self) -> Result<JStr<'a>, DecodeError> {
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = plain_run(self.b, self.i)
                .ok_or_else(|| syntax("end of input in a string", self.b.len()))?;
            match self.b[self.i] {
                b'"' => {
                    let raw = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(JStr { raw, escaped });
                }
                b'\\' => {}
                _ => return Err(syntax("control character in a string", self.i)),
            }
            escaped = true;
            match self.b.get(self.i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                Some(b'u') => {
                    let hex = self.b.get(self.i + 2..self.i + 6);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return Err(syntax("invalid \\u escape", self.i));
                    }
                    self.i += 6;
                }
                _ => return Err(syntax("invalid escape", self.i)),
            }
        }
    }

    /// [`Scanner::string`] for the fast path, unescaping as it scans: a
    /// string without escapes as its text (`Ok`), else its unescaped text
    /// appended to `buf` (`Err` with its bytes there). Only one-character
    /// escapes are taken; `None` (cursor and `buf` to be restored by the
    /// caller) for a `\u` escape or anything the generic path must report.
    ///
    /// Unescaping during the scan saves a second pass over every escaped
    /// string (user agents always are: `"\"Mozilla/5.0 …\""`), and
    /// one-character escapes are the ones that cannot fail to unescape.
    fn string_unescaping(&mut self, buf: &mut String) -> Option<Result<&'a str, (usize, usize)>> {
        let start = self.i;
        let mut run = start;
        let mut from = None;
        loop {
            let i = plain_run(self.b, self.i)?;
            match self.b[i] {
                b'"' => {
                    self.i = i + 1;
                    return Some(match from {
                        None => Ok(&self.s[start..i]),
                        Some(from) => {
                            buf.push_str(&self.s[run..i]);
                            Err((from, buf.len()))
                        }
                    });
                }
                b'\\' => {
                    let c = match self.b.get(i + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        _ => return None,
                    };
                    from.get_or_insert(buf.len());
                    buf.push_str(&self.s[run..i]);
                    buf.push(c);
                    self.i = i + 2;
                    run = self.i;
                }
                _ => return None,
            }
        }
    }

    /// A number's text, checked against JSON's grammar, and with `range`
    /// against f64's range too.
    fn number(&mut self, range: bool) -> Result<Val<'a>, DecodeError> {
        let start = self.i;
        let digits = |s: &mut Self| {
            let from = s.i;
            while s.peek().is_some_and(|c| c.is_ascii_digit()) {
                s.i += 1;
            }
            s.i - from
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_digits = match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(syntax("leading zero in a number", self.i));
                }
                1
            }
            Some(b'1'..=b'9') => digits(self),
            _ => return Err(syntax("invalid number", self.i)),
        };
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integer = false;
            if digits(self) == 0 {
                return Err(syntax("invalid number", self.i));
            }
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            integer = false;
            exponent = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(syntax("invalid number", self.i));
            }
        }
        let text = &self.s[start..self.i];
        // A number beyond f64's range is a syntax error in serde_json when it
        // reads the number (any field of ours, whatever its type), but not in a
        // value it ignores (an unknown field's), which it only checks against
        // the grammar: only possible with an exponent or over 308 digits.
        if range && (exponent || int_digits > 308) && !text.parse::<f64>().is_ok_and(f64::is_finite)
        {
            return Err(syntax("number out of range", start));
        }
        // serde_json reads `-0` as the float -0.0 (keeping the sign).
        Ok(Val::Num(text, integer && text != "-0"))
    }

    fn literal(&mut self, word: &[u8], v: Val<'a>) -> Result<Val<'a>, DecodeError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(syntax("expected value", self.i))
        }
    }

    /// A value; `range`: see [`Scanner::number`].
    fn value(&mut self, depth: usize, range: bool) -> Result<Val<'a>, DecodeError> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                Ok(Val::Str(self.string()?))
            }
            Some(b'-' | b'0'..=b'9') => self.number(range),
            Some(b'n') => self.literal(b"null", Val::Null),
            Some(b't') => self.literal(b"true", Val::Bool(true)),
            Some(b'f') => self.literal(b"false", Val::Bool(false)),
            Some(b'[') => {
                self.skip_composite(depth, range)?;
                Ok(Val::Composite("an array"))
            }
            Some(b'{') => {
                self.skip_composite(depth, range)?;
                Ok(Val::Composite("an object"))
            }
            _ => Err(self.unexpected("value")),
        }
    }

    /// Checks and skips an array or object; `self.i` is on its bracket.
    #[cold]
    #[inline(never)]
    fn skip_composite(&mut self, depth: usize, range: bool) -> Result<(), DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(syntax("recursion limit exceeded", self.i));
        }
        let object = self.b[self.i] == b'{';
        let close = if object { b'}' } else { b']' };
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            if object {
                self.expect(b'"', "a key")?;
                self.string()?;
                self.expect(b':', "`:`")?;
            }
            self.value(depth + 1, range)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    if !object {
                        self.ws();
                    }
                }
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("`,` or a closing bracket")),
            }
        }
    }

    /// The value of a known field in its usual form, read straight into the
    /// event: a string field's string, an integer field's plain digits, a
    /// float field's plain decimal. The generic path ([`Scanner::value`], then
    /// [`Scanned::set`]) builds a [`Val`], dispatches on it and reads a
    /// number's digits a second time; this was about a fifth of a message.
    ///
    /// Returns false, with the cursor unmoved, for anything else (whitespace,
    /// null, a sign where none is usual, an exponent, many digits, a value
    /// out of the field's range, another type): the generic path then reads
    /// it, with its errors. So what is accepted here is exactly what the
    /// generic path accepts with the same result.
    #[inline]
    fn typed_value(&mut self, f: Field, out: &mut Scanned<'_, 'a>) -> bool {
        use Field::*;
        match f {
            Ts | SessionId | Registration | UserId => match self.plain_int() {
                Some(n) => fill(f.i64_field(out.ev), n),
                None => false,
            },
            Status | ItemInSession => {
                let start = self.i;
                match self.plain_int().map(i32::try_from) {
                    Some(Ok(n)) => fill(f.i32_field(out.ev), n),
                    _ => {
                        self.i = start;
                        false
                    }
                }
            }
            Lat | Lon | Duration | Length => match self.plain_decimal() {
                Some(x) => fill(f.f64_field(out.ev), x),
                None => false,
            },
            Success => false,
            _ => {
                if self.peek() != Some(b'"') {
                    return false;
                }
                let (start, mark) = (self.i, out.buf.len());
                self.i += 1;
                match self.string_unescaping(out.buf) {
                    Some(Ok(raw)) => {
                        if let Some(slot) = f.str_field(out.ev) {
                            *slot = Some(Cow::Borrowed(raw));
                        }
                        true
                    }
                    Some(Err((from, to))) => {
                        out.escaped[out.n_escaped] = Some((f, Escaped::Done(from, to)));
                        out.n_escaped += 1;
                        true
                    }
                    // The generic path reads it again (a `\u` escape, or
                    // for its error).
                    None => {
                        self.i = start;
                        out.buf.truncate(mark);
                        false
                    }
                }
            }
        }
    }

    /// A non-negative integer of at most 18 digits without a leading zero,
    /// not followed by a fraction or an exponent (so not a float), read at
    /// the cursor and passed; `None` with the cursor unmoved otherwise.
    #[inline]
    fn plain_int(&mut self) -> Option<i64> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let mut n: i64 = 0;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // A 19th digit could overflow i64 (found by the decode fuzz
            // target): the generic path reads it.
            if i - start == 18 {
                return None;
            }
            n = n * 10 + i64::from(d);
            i += 1;
        }
        let len = i - start;
        if len == 0 || (len > 1 && b[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = b.get(i) {
            return None;
        }
        self.i = i;
        Some(n)
    }

    /// A decimal `-?int(.digits)?` of at most 15 digits, no exponent, as the
    /// nearest f64; `None` with the cursor unmoved otherwise. With at most 15
    /// digits the digits are an exact f64 (below 2^53) and so is the power of
    /// ten (at most 10^15), so one IEEE division is correctly rounded: the
    /// same value as `str::parse::<f64>` (the exact-division fast path of
    /// every correct parser).
    #[inline]
    fn plain_decimal(&mut self) -> Option<f64> {
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        let b = self.b;
        let mut i = self.i;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        let mut m: u64 = 0;
        let mut digits = 0usize;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            m = m * 10 + u64::from(d);
            digits += 1;
            i += 1;
            if digits > 15 {
                return None;
            }
        }
        let int_len = i - int_start;
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut frac = 0usize;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&c) = b.get(i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                m = m * 10 + u64::from(d);
                digits += 1;
                frac += 1;
                i += 1;
                if digits > 15 {
                    return None;
                }
            }
            if frac == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            return None;
        }
        self.i = i;
        let x = m as f64 / POW10[frac];
        Some(if negative { -x } else { x })
    }

    /// Whether the bytes at the cursor are `f`'s key in compact form
    /// (`"name":`), compared as two machine words.
    fn key_here(&self, f: Field) -> bool {
        let (lo, hi, mask_lo, mask_hi, len) = KEY_WORDS[f as usize];
        match self.b.get(self.i..self.i + 16) {
            Some(w) => {
                let mut x = [0u8; 8];
                x.copy_from_slice(&w[..8]);
                let mut y = [0u8; 8];
                y.copy_from_slice(&w[8..]);
                (u64::from_le_bytes(x) & mask_lo) == lo && (u64::from_le_bytes(y) & mask_hi) == hi
            }
            None => self.b.get(self.i..self.i + len) == Some(f.json_key()),
        }
    }

    /// The top-level object, its known fields into `out`.
    ///
    /// `template` is the previous message's key order (see [`Scratch`]): the
    /// key at position n is first compared in place with the template's n-th
    /// key; only when that fails is it scanned as a string and looked up. The
    /// template is then updated to this message's order.
    fn event(
        &mut self,
        out: &mut Scanned<'_, 'a>,
        template: &mut Vec<Option<Field>>,
    ) -> Result<(), DecodeError> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.i += 1,
            None => return Err(syntax("end of input, expected an object", self.i)),
            Some(_) => {
                let v = self.value(0, true)?;
                return Err(DecodeError::WrongType(format!(
                    "expected an event object, found {}",
                    v.kind()
                )));
            }
        }
        let mut seen: u32 = 0;
        let mut n = 0usize;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                let predicted = template.get(n).copied().flatten();
                let field = match predicted {
                    Some(f) if self.key_here(f) => {
                        self.i += KEY_WORDS[f as usize].4;
                        Some(f)
                    }
                    _ => {
                        self.ws();
                        self.expect(b'"', "a key")?;
                        let key = self.string()?;
                        self.expect(b':', "`:`")?;
                        if key.escaped {
                            let mut name = String::new();
                            unescape_into(key.raw, &mut name)?;
                            Field::from_key(&name)
                        } else {
                            Field::from_key(key.raw)
                        }
                    }
                };
                match template.get_mut(n) {
                    Some(t) => *t = field,
                    None => template.push(field),
                }
                n += 1;
                // A duplicate is an error before its value is read, as in serde.
                if let Some(f) = field {
                    let bit = 1u32 << (f as u32);
                    if seen & bit != 0 {
                        return Err(DecodeError::WrongType(format!(
                            "duplicate field `{}`",
                            f.name()
                        )));
                    }
                    seen |= bit;
                }
                match field {
                    Some(f) => {
                        if !self.typed_value(f, out) {
                            let v = self.value(0, true)?;
                            out.set(f, v)?;
                        }
                    }
                    // Ignored, as serde ignores it (see `Scanner::number`).
                    None => {
                        self.value(0, false)?;
                    }
                }
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.unexpected("`,` or `}`")),
                }
            }
        }
        template.truncate(n);
        self.ws();
        if self.i != self.b.len() {
            return Err(syntax("trailing characters", self.i));
        }
        Ok(())
    }
}

/// An integer's checked text (`-?[0-9]+`) as an i64: digit by digit up to 18
/// digits, which cannot overflow; longer ones through `str::parse`.
fn parse_i64(t: &str) -> Option<i64> {
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        d => (false, d),
    };
    if digits.len() > 18 {
        return t.parse().ok();
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'));
    Some(if negative { -n } else { n })
}

/// Sets a field found by one of [`Field`]'s accessors; true (the value was
/// read) either way.
#[inline(always)]
fn fill<T>(slot: Option<&mut Option<T>>, v: T) -> bool {
    if let Some(slot) = slot {
        *slot = Some(v);
    }
    true
}

fn int<T: TryFrom<i64>>(f: Field, v: &Val<'_>) -> Result<Option<T>, DecodeError> {
    match v {
        Val::Null => Ok(None),
        Val::Num(t, true) => parse_i64(t)
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                DecodeError::WrongType(format!("field `{}`: {t} is out of range", f.name()))
            }),
        other => Err(wrong(f, "an integer", other)),
    }
}

fn float(f: Field, v: &Val<'_>) -> Result<Option<f64>, DecodeError> {
    match v {
        Val::Null => Ok(None),
        Val::Num(t, _) => match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(DecodeError::WrongType(format!(
                "field `{}`: {t} is out of range",
                f.name()
            ))),
        },
        other => Err(wrong(f, "a number", other)),
    }
}

impl<'a> Scanned<'_, 'a> {
    fn set(&mut self, f: Field, v: Val<'a>) -> Result<(), DecodeError> {
        use Field::*;
        let ev = &mut *self.ev;
        if let Some(field) = f.str_field(ev) {
            *field = match v {
                Val::Null => None,
                Val::Str(s) if !s.escaped => Some(Cow::Borrowed(s.raw)),
                Val::Str(s) => {
                    // Fields are distinct (duplicates are an error), so this fits.
                    self.escaped[self.n_escaped] = Some((f, Escaped::Raw(s.raw)));
                    self.n_escaped += 1;
                    None
                }
                // `zip` may be an integer (eventsim writes it as a string); kept
                // as its canonical digits.
                Val::Num(t, true)
                    if f == Zip && (t.parse::<i64>().is_ok() || t.parse::<u64>().is_ok()) =>
                {
                    Some(Cow::Borrowed(t))
                }
                other => {
                    let expected = if f == Zip {
                        "a string or a number"
                    } else {
                        "a string"
                    };
                    return Err(wrong(f, expected, &other));
                }
            };
            return Ok(());
        }
        if let Some(field) = f.i32_field(ev) {
            *field = int(f, &v)?;
            return Ok(());
        }
        if let Some(field) = f.f64_field(ev) {
            *field = float(f, &v)?;
            return Ok(());
        }
        match f {
            Ts => ev.ts = int(f, &v)?,
            SessionId => ev.session_id = int(f, &v)?,
            Success => {
                ev.success = match v {
                    Val::Null => None,
                    Val::Bool(b) => Some(b),
                    other => return Err(wrong(f, "a boolean", &other)),
                }
            }
            // A number (four-topic) or a string (single stream, "" when hidden).
            UserId => {
                ev.user_id = match v {
                    Val::Str(s) if s.escaped => {
                        self.user_id_escaped = Some(s.raw);
                        None
                    }
                    Val::Str(s) => user_id_text(s.raw)?,
                    other => int(f, &other)?,
                }
            }
            // Epoch ms, an integer (four-topic) or a float (single stream).
            Registration => {
                ev.registration = match v {
                    Val::Null => None,
                    v @ Val::Num(_, true) => int(f, &v)?,
                    Val::Num(t, false) => match t.parse::<f64>() {
                        Ok(x) if x.is_finite() && x.abs() < 9.0e15 => Some(x.round() as i64),
                        _ => {
                            return Err(DecodeError::WrongType(format!(
                                "field `registration`: {t} is out of range"
                            )))
                        }
                    },
                    other => return Err(wrong(f, "epoch milliseconds", &other)),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Unescapes the strings left raw (the generic path's) into the buffer,
    /// and parses an escaped `userId`. Returns each escaped field with its
    /// bytes in the buffer, for [`scan_into`] to borrow or copy once the
    /// buffer is final.
    fn unescape_rest(self) -> Result<Unescaped, DecodeError> {
        if let Some(raw) = self.user_id_escaped {
            let mut text = String::new();
            unescape_into(raw, &mut text)?;
            self.ev.user_id = user_id_text(&text)?;
        }
        let mut done = [None; STR_FIELDS];
        for (d, (f, e)) in done.iter_mut().zip(self.escaped.iter().flatten()) {
            *d = Some(match *e {
                Escaped::Done(from, to) => (*f, from, to),
                Escaped::Raw(raw) => {
                    let from = self.buf.len();
                    unescape_into(raw, self.buf)?;
                    (*f, from, self.buf.len())
                }
            });
        }
        Ok(done)
    }
}

fn user_id_text(t: &str) -> Result<Option<i64>, DecodeError> {
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| DecodeError::WrongType(format!("field `userId`: {t:?} is not an integer")))
}

/// Appends the unescaped text of a checked JSON string body to `out`.
fn unescape_into(raw: &str, out: &mut String) -> Result<(), DecodeError> {
    let mut rest = raw;
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        let b = rest.as_bytes();
        let c = b.get(p + 1).copied().unwrap_or(b'?');
        rest = &rest[p + 2..];
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(rest)?;
                rest = &rest[4..];
                if (0xD800..0xDC00).contains(&hi) {
                    // A leading surrogate must be followed by a trailing one.
                    let lo = rest
                        .strip_prefix("\\u")
                        .map(hex4)
                        .transpose()?
                        .filter(|lo| (0xDC00..0xE000).contains(lo))
                        .ok_or_else(|| {
                            DecodeError::NotJson("lone leading surrogate in a \\u escape".into())
                        })?;
                    rest = &rest[6..];
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    char::from_u32(code)
                        .ok_or_else(|| DecodeError::NotJson("invalid surrogate pair".into()))?
                } else {
                    char::from_u32(hi).ok_or_else(|| {
                        DecodeError::NotJson("lone trailing surrogate in a \\u escape".into())
                    })?
                }
            }
            _ => return Err(DecodeError::NotJson("invalid escape".into())),
        };
        out.push(ch);
    }
    out.push_str(rest);
    Ok(())
}

fn hex4(s: &str) -> Result<u32, DecodeError> {
    s.get(..4)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| DecodeError::NotJson("invalid \\u escape".into()))
}

/// Scans one JSON text (already checked as UTF-8) into `ev`, which must be
/// empty (`RawEvent::default()`); on an error it holds part of the message.
/// Escaped strings go into `scratch` when given (cleared first), else into
/// owned strings.
///
/// Filling the caller's event, rather than returning one, saves moving the
/// event (about 600 bytes) up through every caller for each message.
pub(super) fn scan_into<'a>(
    text: &'a str,
    scratch: Option<&'a mut Scratch>,
    ev: &mut RawEvent<'a>,
) -> Result<(), DecodeError> {
    match scratch {
        Some(Scratch { buf, template }) => {
            let escaped = scan_fields(text, ev, buf, template)?;
            // The buffer is final: the escaped strings borrow from it.
            let frozen: &'a str = buf.as_str();
            for (f, from, to) in escaped.into_iter().flatten() {
                if let Some(field) = f.str_field(ev) {
                    *field = Some(Cow::Borrowed(&frozen[from..to]));
                }
            }
        }
        None => {
            let mut buf = String::new();
            let escaped = scan_fields(text, ev, &mut buf, &mut Vec::new())?;
            for (f, from, to) in escaped.into_iter().flatten() {
                if let Some(field) = f.str_field(ev) {
                    *field = Some(Cow::Owned(buf[from..to].to_string()));
                }
            }
        }
    }
    Ok(())
}

/// [`scan_into`] up to the escaped strings: those are unescaped into `buf`
/// (cleared first) and returned as their fields and bytes there.
fn scan_fields<'a>(
    text: &'a str,
    ev: &mut RawEvent<'a>,
    buf: &mut String,
    template: &mut Vec<Option<Field>>,
) -> Result<Unescaped, DecodeError> {
    let mut sc = Scanner {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    buf.clear();
    let mut out = Scanned {
        ev,
        buf,
        escaped: Default::default(),
        n_escaped: 0,
        user_id_escaped: None,
    };
    sc.event(&mut out, template)?;
    out.unescape_rest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_dispatch_equals_a_plain_lookup() {
        let mut keys: Vec<String> = ALL_FIELDS.iter().map(|f| f.name().to_string()).collect();
        for f in ALL_FIELDS {
            let n = f.name();
            keys.push(format!("{n}x"));
            keys.push(n[1..].to_string());
            keys.push(n.to_uppercase());
            keys.push(format!("{}{}", &n[..n.len() - 1], "Q"));
        }
        keys.extend(["", "x", "lot", "lan", "stateX"].map(String::from));
        for k in &keys {
            assert_eq!(Field::from_key(k), Field::from_key_slow(k), "{k:?}");
        }
        for f in ALL_FIELDS {
            assert_eq!(Field::from_key(f.name()), Some(f));
        }
    }

    /// Found by the `decode` fuzz target (fuzz/artifacts/decode/crash-0035953e…):
    /// serde_json ignores an unknown field's number without reading it, so one
    /// beyond f64's range is accepted there; in a field of ours, or nested
    /// anywhere in one, it is `not_json`, as before.
    /// Found by the `decode` fuzz target: a 19-digit integer overflowed the
    /// plain-integer fast path (a panic with overflow checks, a wrapped value
    /// discarded without); and a latitude with 26 significant digits, where
    /// serde_json without `float_roundtrip` rounded differently from the
    /// correctly rounded value the scanner reads.
    #[test]
    fn key_words_match_keys_in_place() {
        for f in ALL_FIELDS {
            let key = String::from_utf8(f.json_key().to_vec()).unwrap();
            // In the middle of a message (word compare) and at its very end
            // (slice compare).
            for text in [format!("{key}1,\"zzzzzzzzzzzzzzzz\":2"), key.clone()] {
                let sc = Scanner {
                    s: &text,
                    b: text.as_bytes(),
                    i: 0,
                };
                for g in ALL_FIELDS {
                    assert_eq!(sc.key_here(g), g == f, "{key} vs {}", g.name());
                }
            }
        }
    }

    #[test]
    fn integer_digits_parse_like_std() {
        for t in [
            "0",
            "7",
            "-7",
            "1793577600000",
            "-1793577600000",
            "999999999999999999",
            "-999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
        ] {
            assert_eq!(parse_i64(t), t.parse::<i64>().ok(), "{t}");
        }
    }

    /// The typed fast paths accept only numbers the generic path reads, with
    /// the same value (bit for bit) and the same end; anything else leaves the
    /// cursor where it was.
    #[test]
    fn plain_numbers_read_like_the_generic_path() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ints, mut decimals) = (0, 0);
        for _ in 0..200_000 {
            let mut t = String::new();
            if next() % 4 == 0 {
                t.push('-');
            }
            let digits = |t: &mut String, n: u64, next: &mut dyn FnMut() -> u64| {
                for _ in 0..n {
                    t.push((b'0' + (next() % 10) as u8) as char);
                }
            };
            let n = next() % 21;
            digits(&mut t, n, &mut next);
            if next() % 2 == 0 {
                t.push('.');
                let n = next() % 18;
                digits(&mut t, n, &mut next);
            }
            if next() % 8 == 0 {
                t.push(['e', 'E'][(next() % 2) as usize]);
                let n = next() % 3;
                digits(&mut t, n, &mut next);
            }
            t.push_str([",", "}", "", "x", "."][(next() % 5) as usize]);
            fn at(t: &str) -> Scanner<'_> {
                Scanner {
                    s: t,
                    b: t.as_bytes(),
                    i: 0,
                }
            }
            let mut generic = at(&t);
            let g = generic.number(true);
            let mut fast = at(&t);
            match (fast.plain_int(), &g) {
                (Some(n), Ok(Val::Num(text, true))) => {
                    assert_eq!(Some(n), parse_i64(text), "{t}");
                    assert_eq!(fast.i, generic.i, "{t}");
                    ints += 1;
                }
                (Some(n), _) => panic!("{t}: fast path read {n}"),
                (None, _) => assert_eq!(fast.i, 0, "{t}"),
            }
            let mut fast = at(&t);
            match (fast.plain_decimal(), &g) {
                (Some(x), Ok(Val::Num(text, _))) => {
                    let want: f64 = text.parse().unwrap();
                    assert_eq!(x.to_bits(), want.to_bits(), "{t}");
                    assert_eq!(fast.i, generic.i, "{t}");
                    decimals += 1;
                }
                (Some(x), _) => panic!("{t}: fast path read {x}"),
                (None, _) => assert_eq!(fast.i, 0, "{t}"),
            }
        }
        assert!(ints > 10_000 && decimals > 20_000, "{ints} {decimals}");
    }

    /// Escaped strings read the same on the fast path (one-character escapes,
    /// unescaped while scanning), the generic one (a `\u` escape, or a field
    /// after whitespace) and serde_json, with and without a scratch buffer,
    /// several in one message.
    #[test]
    fn escaped_strings_unescape_alike_on_every_path() {
        let values = [
            r#""plain""#,
            r#""\"Mozilla/5.0 (X11)\"""#,
            r#""a\"b\\c\/d\be\ff\ng\rh\ti""#,
            r#""\u00e9t\u00e9 \"x\"""#,
            r#""\ud83c\udfb5\n""#,
            r#""\\""#,
        ];
        for (i, v) in values.iter().enumerate() {
            let want: String = serde_json::from_str(v).unwrap();
            let other = values[(i + 1) % values.len()];
            let other_want: String = serde_json::from_str(other).unwrap();
            for text in [
                format!(r#"{{"userAgent":{v},"city":{other},"ts":1}}"#),
                format!(r#"{{"userAgent": {v},"city": {other},"ts":1}}"#),
            ] {
                let mut scratch = Scratch::default();
                // Twice with the scratch: the second reads by the template.
                for _ in 0..2 {
                    let mut ev = RawEvent::default();
                    scan_into(&text, Some(&mut scratch), &mut ev).unwrap();
                    assert_eq!(ev.user_agent.as_deref(), Some(want.as_str()), "{text}");
                    assert_eq!(ev.city.as_deref(), Some(other_want.as_str()), "{text}");
                }
                let mut ev = RawEvent::default();
                scan_into(&text, None, &mut ev).unwrap();
                assert_eq!(ev.user_agent.as_deref(), Some(want.as_str()), "{text}");
                assert_eq!(ev.city.as_deref(), Some(other_want.as_str()), "{text}");
            }
        }
    }

    #[test]
    fn word_at_a_time_search_equals_a_byte_search() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 10 {
                    0 => b'"',
                    1 => b'\\',
                    2 => (next() % 0x20) as u8,
                    3 => 0x80 | (next() % 0x80) as u8,
                    _ => b' ' + (next() % 0x5f) as u8,
                })
                .collect();
            let start = if len == 0 { 0 } else { (next() as usize) % len };
            let naive = bytes[start..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .map(|n| start + n);
            assert_eq!(plain_run(&bytes, start), naive, "{bytes:?} from {start}");
        }
    }
}
