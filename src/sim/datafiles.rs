//! eventsim's own data files (`--data-dir DIR`), read as eventsim ships them and
//! repaired on the way in:
//!
//! - `listen_counts.txt.gz`: gzip, TSV of track id, artist, title, duration,
//!   listen count; CRLF lines; UTF-8 (eventsim read it as ISO-8859-1, which is
//!   where the mojibake of eventsim's output comes from; we decode it as UTF-8,
//!   and undo mojibake already in the text); fields may be CSV-quoted with
//!   backslash-escaped quotes inside.
//! - `yob1990.txt`: `Name,Sex,Count` first names (US SSA).
//! - `Top1000Surnames.csv`: US Census surnames, upper case, CR line endings.
//! - `user agents.txt`: UTF-16LE with a BOM, tab-separated percent, weight, user
//!   agent (quotes kept, as eventsim writes them), browser, OS.
//!
//! A file that is absent keeps the built-in list (with a warning); a file that is
//! present but malformed is an error naming the file and the line.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use super::catalog::{Catalog, CatalogError, Song};

pub const SONGS: &str = "listen_counts.txt.gz";
pub const FIRST_NAMES: &str = "yob1990.txt";
pub const SURNAMES: &str = "Top1000Surnames.csv";
pub const USER_AGENTS: &str = "user agents.txt";

fn err(path: &Path, line: usize, msg: impl Into<String>) -> CatalogError {
    CatalogError {
        file: path.display().to_string(),
        line,
        msg: msg.into(),
    }
}

/// Bytes to text: UTF-16 when there is a BOM, else UTF-8, else (bytes that are
/// not UTF-8) ISO-8859-1, which maps every byte to a char.
pub fn decode_text(bytes: &[u8]) -> String {
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) => bytes.iter().map(|&b| b as char).collect(),
        },
    }
}

fn utf16(b: &[u8], f: fn([u8; 2]) -> u16) -> String {
    let units = b.chunks_exact(2).map(|c| f([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Lines split on CR, LF or CRLF, numbered from 1, blank ones skipped.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(['\n', '\r'])
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
}

/// A TSV field as eventsim's files write it: `"..."` with `\"` inside, or bare;
/// then mojibake (UTF-8 read as Latin-1) undone.
pub fn field(raw: &str) -> String {
    let s = raw.trim();
    let s = match s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) if s.len() >= 2 => inner,
        _ => s,
    };
    crate::event::repair_text(Cow::Borrowed(s)).into_owned()
}

fn number(path: &Path, line: usize, s: &str) -> Result<f64, CatalogError> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| err(path, line, format!("{:?} is not a number", s.trim())))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(err(path, line, format!("{v} is not a weight >= 0")))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CatalogError> {
    std::fs::read(path).map_err(|e| err(path, 0, e.to_string()))
}

/// Songs from `listen_counts.txt.gz`: (song, listen count).
pub fn read_songs(path: &Path) -> Result<Vec<(Song, f64)>, CatalogError> {
    let gz = read(path)?;
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .map_err(|e| err(path, 0, format!("not gzip: {e}")))?;
    let text = decode_text(&raw);
    let mut out = Vec::new();
    for (n, l) in lines(&text) {
        let cols: Vec<&str> = l.split('\t').collect();
        if cols.len() < 5 {
            return Err(err(
                path,
                n,
                format!("expected 5 tab-separated fields, found {}", cols.len()),
            ));
        }
        let song = Song {
            artist: field(cols[1]),
            title: field(cols[2]),
            duration: number(path, n, cols[3])?,
        };
        out.push((song, number(path, n, cols[4])?));
    }
    Ok(out)
}

/// First names from `yob1990.txt`: (name, gender, count).
pub fn read_first_names(path: &Path) -> Result<Vec<(String, &'static str, f64)>, CatalogError> {
    let text = decode_text(&read(path)?);
    let mut out = Vec::new();
    for (n, l) in lines(&text) {
        let cols: Vec<&str> = l.split(',').collect();
        if cols.len() < 3 {
            return Err(err(path, n, "expected Name,Sex,Count"));
        }
        let gender = match cols[1].trim() {
            "M" => "M",
            "F" => "F",
            g => return Err(err(path, n, format!("sex {g:?} is not M or F"))),
        };
        out.push((
            cols[0].trim().to_string(),
            gender,
            number(path, n, cols[2])?,
        ));
    }
    Ok(out)
}

/// "SMITH" → "Smith", "O'BRIEN" → "O'Brien", "SMITH-JONES" → "Smith-Jones".
pub fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = !c.is_alphabetic();
    }
    out
}

/// Surnames from `Top1000Surnames.csv` (header `name,rank,count,...`).
pub fn read_surnames(path: &Path) -> Result<Vec<(String, f64)>, CatalogError> {
    let text = decode_text(&read(path)?);
    let mut out = Vec::new();
    for (n, l) in lines(&text) {
        let cols: Vec<&str> = l.split(',').collect();
        if cols.len() < 3 {
            return Err(err(path, n, "expected name,rank,count,..."));
        }
        if n == 1 && cols[0].trim().eq_ignore_ascii_case("name") {
            continue;
        }
        out.push((title_case(cols[0].trim()), number(path, n, cols[2])?));
    }
    Ok(out)
}

/// User agents from `user agents.txt` (header `percent weight useragent ...`).
pub fn read_user_agents(path: &Path) -> Result<Vec<(String, f64)>, CatalogError> {
    let text = decode_text(&read(path)?);
    let mut out = Vec::new();
    for (n, l) in lines(&text) {
        let cols: Vec<&str> = l.split('\t').collect();
        if cols.len() < 3 {
            return Err(err(
                path,
                n,
                format!("expected 5 tab-separated fields, found {}", cols.len()),
            ));
        }
        if n == 1 && cols[0].trim().eq_ignore_ascii_case("percent") {
            continue;
        }
        out.push((cols[2].trim().to_string(), number(path, n, cols[1])?));
    }
    Ok(out)
}

impl Catalog {
    /// The built-in catalogue with the lists found in eventsim's data directory
    /// replacing their built-in counterparts (locations stay built-in: eventsim's
    /// location file is not among its shipped data).
    pub fn with_eventsim_data(dir: &Path) -> Result<Catalog, CatalogError> {
        if !dir.is_dir() {
            return Err(err(dir, 0, "not a directory"));
        }
        let present = |f: &str| {
            let p = dir.join(f);
            if p.exists() {
                Some(p)
            } else {
                tracing::warn!(file = %p.display(), "eventsim data file absent: using the built-in list");
                None
            }
        };
        let mut c = Catalog::builtin()?;
        let mut found = 0;
        if let Some(p) = present(SONGS) {
            let songs = read_songs(&p)?;
            (c.songs, c.song_w) = songs.into_iter().unzip();
            found += 1;
        }
        if let Some(p) = present(FIRST_NAMES) {
            let names = read_first_names(&p)?;
            c.first_names = names.iter().map(|(n, g, _)| (n.clone(), *g)).collect();
            c.first_w = names.iter().map(|x| x.2).collect();
            found += 1;
        }
        if let Some(p) = present(SURNAMES) {
            (c.surnames, c.sur_w) = read_surnames(&p)?.into_iter().unzip();
            found += 1;
        }
        if let Some(p) = present(USER_AGENTS) {
            (c.user_agents, c.ua_w) = read_user_agents(&p)?.into_iter().unzip();
            found += 1;
        }
        if found == 0 {
            return Err(err(
                dir,
                0,
                format!("none of eventsim's data files ({SONGS}, {FIRST_NAMES}, {SURNAMES}, {USER_AGENTS}) is here"),
            ));
        }
        c.prepare()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_unquote_and_repair() {
        assert_eq!(field(r#""Say \"Hi\" now""#), r#"Say "Hi" now"#);
        assert_eq!(field(r#""""#), "");
        assert_eq!(field("Beyonc\u{c3}\u{a9}"), "Beyoncé");
        assert_eq!(field("Björk"), "Björk");
        assert_eq!(
            field(r#""Dirty Movies\" (Album Version)""#),
            r#"Dirty Movies" (Album Version)"#
        );
    }

    #[test]
    fn text_decoding() {
        assert_eq!(decode_text(&[0xFF, 0xFE, b'h', 0, 0xE9, 0]), "hé");
        assert_eq!(decode_text(&[b'h', 0xE9]), "hé");
        assert_eq!(decode_text("hé".as_bytes()), "hé");
        assert_eq!(title_case("O'BRIEN"), "O'Brien");
    }
}
