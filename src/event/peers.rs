//! The scanner's peers: the same [`RawEvent`] decoded by the serde
//! deserializers of the `sonic-rs` and `simd-json` crates, with the same size
//! and UTF-8 checks, the same field types (the derive and the `deserialize_with`
//! functions of `event.rs`) and the same error kinds. They exist so that
//! `stage-bench` can measure the hand-written scanner against the ecosystem on
//! the same messages, into the same columns (`--parser`, `Decoder::with_parser`);
//! `tests/decode_peers.rs` checks the three give identical columns.

use super::raw::{checked_text, DecodeError, DecodeLimits, RawEvent};

/// Which JSON parser a decoder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonParser {
    /// The hand-written scanner (`event/scan.rs`).
    #[default]
    Scanner,
    /// `sonic_rs::from_str` through serde.
    SonicRs,
    /// `simd_json::serde::from_slice_with_buffers` (parses a copy in place).
    SimdJson,
}

impl JsonParser {
    pub const ALL: [JsonParser; 3] = [
        JsonParser::Scanner,
        JsonParser::SonicRs,
        JsonParser::SimdJson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JsonParser::Scanner => "scanner",
            JsonParser::SonicRs => "sonic-rs",
            JsonParser::SimdJson => "simd-json",
        }
    }
}

/// [`super::parse`] with sonic-rs. Escaped strings are owned copies (a `Cow`
/// can borrow only what needs no unescaping).
pub fn parse_sonic<'a>(
    payload: &'a [u8],
    limits: &DecodeLimits,
) -> Result<RawEvent<'a>, DecodeError> {
    use sonic_rs::error::Category;
    let text = checked_text(payload, limits)?;
    let mut ev: RawEvent<'a> = sonic_rs::from_str(text).map_err(|e| match e.classify() {
        Category::TypeUnmatched | Category::NotFound => DecodeError::WrongType(e.to_string()),
        _ => DecodeError::NotJson(e.to_string()),
    })?;
    ev.normalise();
    Ok(ev)
}

/// What simd-json parses in: a copy of the message (it unescapes strings in
/// place, so escaped ones borrow too) and its tape buffers, reused for every
/// message of a decoder.
#[derive(Default)]
pub struct SimdBuffers {
    input: Vec<u8>,
    buffers: simd_json::Buffers,
}

/// [`super::parse`] with simd-json, parsing a copy of the message in `buf`.
pub fn parse_simd<'a>(
    payload: &[u8],
    limits: &DecodeLimits,
    buf: &'a mut SimdBuffers,
) -> Result<RawEvent<'a>, DecodeError> {
    let text = checked_text(payload, limits)?;
    let SimdBuffers { input, buffers } = buf;
    input.clear();
    input.extend_from_slice(text.as_bytes());
    let mut ev: RawEvent<'a> =
        simd_json::serde::from_slice_with_buffers(input, buffers).map_err(|e| {
            use simd_json::ErrorType::{ExpectedFalse, ExpectedNull, ExpectedTrue};
            // A bad literal (`not json`) is syntax, which simd-json's
            // `is_data` counts as data.
            let literal = matches!(e.error(), ExpectedNull | ExpectedTrue | ExpectedFalse);
            if e.is_data() && !literal {
                DecodeError::WrongType(e.to_string())
            } else {
                DecodeError::NotJson(e.to_string())
            }
        })?;
    ev.normalise();
    Ok(ev)
}
