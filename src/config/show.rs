//! `musicaly config show`: every effective value with where it came from
//! (default, file, env or flag), secrets masked; and `config check`.

use std::path::Path;

use super::{ConfigError, Overrides, Settings};

/// Where an effective value was set; later layers win.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env,
    Flag,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Env => "env",
            Source::Flag => "flag",
        }
    }
}

/// One effective setting: dotted key, value as TOML, and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub key: String,
    pub value: String,
    pub source: Source,
}

/// Whether a key's value is a secret that must never be printed. Secrets
/// themselves live in files or the environment; a key that names a file
/// (`*_file`) is only a path and is shown.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !k.ends_with("_file")
        && ["password", "secret", "token", "credential", "private_key"]
            .iter()
            .any(|s| k.contains(s))
}

/// Loads and validates like [`Settings::load`], then lists every key.
pub fn effective(
    file: Option<&Path>,
    overrides: &Overrides,
) -> Result<Vec<Effective>, ConfigError> {
    let settings = Settings::load(file, overrides)?;
    let value = toml::Value::try_from(&settings)?;
    let in_file = match file {
        Some(f) => std::fs::read_to_string(f)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok()),
        None => None,
    };
    let mut out = Vec::new();
    flatten("", &value, &mut out);
    Ok(out
        .into_iter()
        .map(|(key, v)| {
            let env = format!("MUSICALY__{}", key.replace('.', "__").to_ascii_uppercase());
            let source = if overrides.iter().any(|(k, _)| *k == key) {
                Source::Flag
            } else if std::env::var_os(&env).is_some() {
                Source::Env
            } else if in_file.as_ref().is_some_and(|t| lookup(t, &key)) {
                Source::File
            } else {
                Source::Default
            };
            let value = if is_secret(&key) && !matches!(&v, toml::Value::String(s) if s.is_empty())
            {
                "\"********\"".to_string()
            } else {
                v.to_string()
            };
            Effective { key, value, source }
        })
        .collect())
}

/// Renders the list as TOML-like lines, each value with its source.
pub fn render(list: &[Effective]) -> String {
    let width = list
        .iter()
        .map(|e| e.key.len() + e.value.len())
        .max()
        .unwrap_or(0)
        + 3;
    let mut s = String::new();
    for e in list {
        let line = format!("{} = {}", e.key, e.value);
        s.push_str(&format!("{line:<width$} # {}\n", e.source.name()));
    }
    s
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                // A table-valued setting (e.g. kafka.properties) is one value.
                if matches!(v, toml::Value::Table(_)) && !prefix.is_empty() {
                    out.push((key, v.clone()));
                } else {
                    flatten(&key, v, out);
                }
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn lookup(t: &toml::Table, key: &str) -> bool {
    let mut cur = t;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        match cur.get(*p) {
            Some(toml::Value::Table(next)) if i + 1 < parts.len() => cur = next,
            Some(_) => return i + 1 == parts.len(),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_default_file_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[kafka]\nbrokers = \"10.0.0.1:9092\"\n").unwrap();
        let list = effective(Some(&f), &vec![("kafka.group_id", "g".into())]).unwrap();
        let get = |k: &str| list.iter().find(|e| e.key == k).unwrap().clone();
        assert_eq!(get("kafka.brokers").source, Source::File);
        assert_eq!(get("kafka.brokers").value, "\"10.0.0.1:9092\"");
        assert_eq!(get("kafka.group_id").source, Source::Flag);
        assert_eq!(get("lake.compression").source, Source::Default);
        assert!(render(&list).contains("# file"));
    }

    #[test]
    fn secrets_are_masked_but_file_paths_shown() {
        assert!(is_secret("kafka.sasl_password"));
        assert!(is_secret("web.token"));
        assert!(!is_secret("kafka.sasl_password_file"));
        assert!(!is_secret("lake.path"));
    }
}
