//! Layered configuration: built-in defaults (`config/default.toml`, compiled in, so
//! the file that documents every key is also the one that sets the defaults), then
//! the user's file (`--config`), then environment variables
//! `MUSICALY__SECTION__KEY`, then command-line flags.
//!
//! Every section denies unknown keys, and [`Settings::validate`] checks values, so a
//! typo fails at start-up with the key, the value and what is allowed.

pub mod show;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The documented defaults, compiled in.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config crate's message already names the key and what is allowed;
    /// it is not kept as a `source` too, or error chains would say it twice.
    #[error("config: {0}")]
    Load(config::ConfigError),
    #[error("config: cannot render the settings (a bug: please report it): {0}")]
    Render(#[from] toml::ser::Error),
    #[error("config: key `{key}` has value {value}, allowed: {allowed}")]
    Invalid {
        key: &'static str,
        value: String,
        allowed: &'static str,
    },
}

impl From<config::ConfigError> for ConfigError {
    fn from(e: config::ConfigError) -> ConfigError {
        ConfigError::Load(e)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data: DataSettings,
    pub simulate: SimulateSettings,
    pub pipeline: PipelineSettings,
    pub decode: DecodeSettings,
    pub stream: StreamSettings,
    pub kafka: KafkaSettings,
    pub lake: LakeSettings,
    pub warehouse: WarehouseSettings,
    pub log: LogSettings,
    pub web: WebSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateSettings {
    pub nusers: u64,
    pub config: String,
    pub start_time: String,
    pub end_time: String,
    pub seed: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    pub partitions: u32,
    pub batch_max_events: usize,
    pub batch_max_age_ms: u64,
    pub decode_threads: usize,
    pub writer_threads: usize,
    pub mailbox_capacity: usize,
    pub shutdown_timeout_secs: u64,
    pub write_delay_ms: u64,
    /// Memory the data path may hold, in MiB (see default.toml for the split).
    pub memory_limit_mb: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub enabled: bool,
    pub session_gap_secs: u64,
    pub lateness_secs: u64,
    pub idle_partition_secs: u64,
    pub window_secs: u64,
    pub tick_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeSettings {
    pub max_message_bytes: usize,
    pub min_ts: String,
    pub max_ts: String,
    /// Where rejected messages go: lake, topic or both.
    pub dead_letters: String,
    /// The Kafka topic for dead letters (when `dead_letters` is topic or both).
    pub dead_letter_topic: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group_id: String,
    pub topics: Vec<String>,
    pub auto_offset_reset: String,
    pub idle_exit_secs: u64,
    pub revoke_timeout_secs: u64,
    /// TLS and SASL of every Kafka client (see `kafka_security`).
    pub security_protocol: String,
    pub sasl_mechanism: String,
    pub sasl_username: String,
    pub sasl_password_file: String,
    pub ssl_ca_file: String,
    pub ssl_certificate_file: String,
    pub ssl_key_file: String,
    /// Extra librdkafka properties (SASL/SSL, fetch sizes...), passed through.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSettings {
    pub path: String,
    pub compression: String,
    /// Columns `compression` applies to (`"*"`: all); the others are written
    /// uncompressed.
    pub compressed_columns: Vec<String>,
    pub zstd_level: i32,
    pub row_group_rows: usize,
    /// A partition's open files close when one of them reaches this size (MiB)...
    pub file_max_mb: u64,
    /// ...or when its oldest open file is this old (seconds)...
    pub file_max_age_secs: u64,
    /// ...or when the partition has seen an event this long after an open hour's end.
    pub hour_close_secs: u64,
    /// Files larger than this (MiB) are uploaded in parts of this size.
    pub multipart_part_mb: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSettings {
    pub path: String,
    pub enabled: bool,
    /// `musicaly pipeline` loads changed lake hours this often (0: only at stop).
    pub load_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

/// Values set on the command line, applied last.
pub type Overrides = Vec<(&'static str, String)>;

/// `MUSICALY__SECTION__KEY` variables; list-valued keys are comma-separated.
fn environment() -> config::Environment {
    config::Environment::with_prefix("MUSICALY")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("kafka.topics")
        .with_list_parse_key("lake.compressed_columns")
}

impl Settings {
    /// Loads defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let mut b = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(f) = file {
            b = b.add_source(
                config::File::from(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        b = b.add_source(environment());
        for (k, v) in overrides {
            b = b.set_override(*k, v.as_str())?;
        }
        let s: Settings = b.build()?.try_deserialize()?;
        s.validate()?;
        Ok(s)
    }

    /// The defaults overlaid with a config file's text, validated; without the
    /// environment or flags, so the result depends on the text alone (the
    /// config fuzz target's entry point).
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        let s: Settings = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(
            key: &'static str,
            value: impl std::fmt::Display,
            allowed: &'static str,
        ) -> ConfigError {
            ConfigError::Invalid {
                key,
                value: format!("\"{value}\""),
                allowed,
            }
        }
        let p = &self.pipeline;
        if p.partitions == 0 || p.partitions > 1024 {
            return Err(invalid("pipeline.partitions", p.partitions, "1..=1024"));
        }
        if p.batch_max_events == 0 {
            return Err(invalid(
                "pipeline.batch_max_events",
                p.batch_max_events,
                "at least 1",
            ));
        }
        if p.decode_threads == 0 || p.decode_threads > 256 {
            return Err(invalid(
                "pipeline.decode_threads",
                p.decode_threads,
                "1..=256",
            ));
        }
        if p.writer_threads == 0 || p.writer_threads > 256 {
            return Err(invalid(
                "pipeline.writer_threads",
                p.writer_threads,
                "1..=256",
            ));
        }
        if p.mailbox_capacity == 0 {
            return Err(invalid(
                "pipeline.mailbox_capacity",
                p.mailbox_capacity,
                "at least 1",
            ));
        }
        let st = &self.stream;
        if st.session_gap_secs == 0 {
            return Err(invalid(
                "stream.session_gap_secs",
                st.session_gap_secs,
                "at least 1",
            ));
        }
        if st.window_secs == 0 || 3600 % st.window_secs != 0 {
            return Err(invalid(
                "stream.window_secs",
                st.window_secs,
                "a divisor of 3600 (60, 300, 600, 900, 1800, 3600...)",
            ));
        }
        if st.tick_ms == 0 {
            return Err(invalid("stream.tick_ms", st.tick_ms, "at least 1"));
        }
        if !matches!(self.lake.compression.as_str(), "zstd" | "snappy" | "none") {
            return Err(invalid(
                "lake.compression",
                &self.lake.compression,
                "zstd, snappy, none",
            ));
        }
        if let Some(bad) = self
            .lake
            .compressed_columns
            .iter()
            .find(|c| c.trim().is_empty())
        {
            return Err(invalid(
                "lake.compressed_columns",
                format!("{bad:?}"),
                "column names (e.g. song, artist, userAgent) or \"*\" for every column",
            ));
        }
        if !(1..=22).contains(&self.lake.zstd_level) {
            return Err(invalid("lake.zstd_level", self.lake.zstd_level, "1..=22"));
        }
        if self.lake.row_group_rows == 0 {
            return Err(invalid(
                "lake.row_group_rows",
                self.lake.row_group_rows,
                "at least 1",
            ));
        }
        let d = &self.decode;
        if !matches!(d.dead_letters.as_str(), "lake" | "topic" | "both") {
            return Err(invalid(
                "decode.dead_letters",
                &d.dead_letters,
                "lake, topic, both",
            ));
        }
        if d.dead_letters != "lake" && d.dead_letter_topic.trim().is_empty() {
            return Err(invalid(
                "decode.dead_letter_topic",
                &d.dead_letter_topic,
                "a topic name (decode.dead_letters sends dead letters to a topic)",
            ));
        }
        let l = &self.lake;
        if l.file_max_mb == 0 {
            return Err(invalid("lake.file_max_mb", l.file_max_mb, "at least 1"));
        }
        if l.file_max_age_secs == 0 {
            return Err(invalid(
                "lake.file_max_age_secs",
                l.file_max_age_secs,
                "at least 1",
            ));
        }
        if !(5..=4096).contains(&l.multipart_part_mb) {
            return Err(invalid(
                "lake.multipart_part_mb",
                l.multipart_part_mb,
                "5..=4096 (S3 and GCS need parts of at least 5 MiB)",
            ));
        }
        if p.memory_limit_mb < 256 {
            return Err(invalid(
                "pipeline.memory_limit_mb",
                p.memory_limit_mb,
                "at least 256",
            ));
        }
        if !matches!(self.kafka.auto_offset_reset.as_str(), "earliest" | "latest") {
            return Err(invalid(
                "kafka.auto_offset_reset",
                &self.kafka.auto_offset_reset,
                "earliest, latest",
            ));
        }
        if self.kafka.topics.is_empty() {
            return Err(invalid(
                "kafka.topics",
                "[]",
                "a non-empty list of topic names",
            ));
        }
        validate_kafka_security(&self.kafka)?;
        if !self.web.listen.is_empty() && self.web.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "web.listen",
                &self.web.listen,
                "empty (off) or IP:PORT such as 127.0.0.1:9464",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(invalid("log.format", &self.log.format, "text, json"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                &self.log.level,
                "error, warn, info, debug, trace or a tracing filter such as musicaly=debug",
            ));
        }
        if crate::time::parse_utc(&self.decode.min_ts).is_err() {
            return Err(invalid(
                "decode.min_ts",
                &self.decode.min_ts,
                "an ISO date-time such as 1990-01-01T00:00:00",
            ));
        }
        if crate::time::parse_utc(&self.decode.max_ts).is_err() {
            return Err(invalid(
                "decode.max_ts",
                &self.decode.max_ts,
                "an ISO date-time such as 2100-01-01T00:00:00",
            ));
        }
        for (key, v) in [
            ("simulate.start_time", &self.simulate.start_time),
            ("simulate.end_time", &self.simulate.end_time),
        ] {
            if !v.is_empty() && crate::time::parse_utc(v).is_err() {
                return Err(invalid(
                    key,
                    v,
                    "empty (relative to now) or an ISO date-time such as 2026-11-01T00:00:00",
                ));
            }
        }
        if self.simulate.nusers == 0 {
            return Err(invalid(
                "simulate.nusers",
                self.simulate.nusers,
                "at least 1",
            ));
        }
        Ok(())
    }

    /// The lake location: `lake.path`, or `<data.dir>/lake`.
    pub fn lake_location(&self) -> String {
        if self.lake.path.is_empty() {
            self.data.dir.join("lake").to_string_lossy().into_owned()
        } else {
            self.lake.path.clone()
        }
    }

    /// The warehouse file: `warehouse.path`, or `<data.dir>/warehouse.duckdb`.
    pub fn warehouse_path(&self) -> PathBuf {
        if self.warehouse.path.is_empty() {
            self.data.dir.join("warehouse.duckdb")
        } else {
            PathBuf::from(&self.warehouse.path)
        }
    }

    pub fn decode_limits(&self) -> crate::event::DecodeLimits {
        crate::event::DecodeLimits {
            max_message_bytes: self.decode.max_message_bytes,
            // validated above
            min_ts_ms: crate::time::parse_utc(&self.decode.min_ts).unwrap_or(0),
            max_ts_ms: crate::time::parse_utc(&self.decode.max_ts).unwrap_or(i64::MAX),
        }
    }
}

// ---- the [kafka] security keys (kafka_security.rs builds the clients) ----

/// `kafka.security_protocol`'s values, and librdkafka's name of each.
pub(crate) const PROTOCOLS: [(&str, &str); 4] = [
    ("plaintext", "plaintext"),
    ("ssl", "ssl"),
    ("sasl_plaintext", "sasl_plaintext"),
    ("sasl_ssl", "sasl_ssl"),
];

pub(crate) const MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

/// librdkafka properties that `[kafka.properties]` may not set: secrets (they
/// would sit in the config file and be printed by `musicaly config`), and the
/// ones the `[kafka]` keys own (two places for one setting would disagree).
pub(crate) fn forbidden_property(key: &str) -> Option<&'static str> {
    let k = key.to_ascii_lowercase();
    if k.contains("password") || k.contains("secret") || k == "ssl.key.pem" {
        return Some("secrets are read from files or the environment only: use kafka.sasl_password_file (or MUSICALY_KAFKA_SASL_PASSWORD) and kafka.ssl_key_file");
    }
    match k.as_str() {
        "security.protocol" => Some("set kafka.security_protocol instead"),
        "sasl.mechanism" | "sasl.mechanisms" => Some("set kafka.sasl_mechanism instead"),
        "sasl.username" => Some("set kafka.sasl_username instead"),
        "ssl.ca.location" => Some("set kafka.ssl_ca_file instead"),
        "ssl.certificate.location" => Some("set kafka.ssl_certificate_file instead"),
        "ssl.key.location" => Some("set kafka.ssl_key_file instead"),
        "bootstrap.servers" | "metadata.broker.list" => Some("set kafka.brokers instead"),
        _ => None,
    }
}

fn invalid_key(key: &'static str, value: &str, allowed: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: format!("\"{value}\""),
        allowed,
    }
}

/// Checks the security keys' values (files are checked when a client is made:
/// `musicaly report` must not fail over a missing Kafka certificate).
pub fn validate_kafka_security(k: &KafkaSettings) -> Result<(), ConfigError> {
    if !PROTOCOLS.iter().any(|(p, _)| *p == k.security_protocol) {
        return Err(invalid_key(
            "kafka.security_protocol",
            &k.security_protocol,
            "plaintext, ssl, sasl_plaintext, sasl_ssl",
        ));
    }
    if uses_sasl(k) {
        if !MECHANISMS.contains(&k.sasl_mechanism.as_str()) {
            return Err(invalid_key(
                "kafka.sasl_mechanism",
                &k.sasl_mechanism,
                "SCRAM-SHA-512, SCRAM-SHA-256, PLAIN",
            ));
        }
        if k.sasl_username.trim().is_empty() {
            return Err(invalid_key(
                "kafka.sasl_username",
                &k.sasl_username,
                "a user name (kafka.security_protocol uses SASL)",
            ));
        }
    }
    if k.ssl_certificate_file.is_empty() != k.ssl_key_file.is_empty() {
        return Err(invalid_key(
            "kafka.ssl_key_file",
            &k.ssl_key_file,
            "set together with kafka.ssl_certificate_file (a client certificate needs its key), or both empty",
        ));
    }
    if !uses_tls(k) {
        for (key, v) in [
            ("kafka.ssl_ca_file", &k.ssl_ca_file),
            ("kafka.ssl_certificate_file", &k.ssl_certificate_file),
        ] {
            if !v.is_empty() {
                return Err(invalid_key(
                    key,
                    v,
                    "empty unless kafka.security_protocol is ssl or sasl_ssl",
                ));
            }
        }
    }
    for key in k.properties.keys() {
        if let Some(why) = forbidden_property(key) {
            return Err(ConfigError::Invalid {
                key: "kafka.properties",
                value: format!("\"{key}\""),
                allowed: why,
            });
        }
    }
    Ok(())
}

pub(crate) fn uses_sasl(k: &KafkaSettings) -> bool {
    k.security_protocol.starts_with("sasl_")
}

pub(crate) fn uses_tls(k: &KafkaSettings) -> bool {
    k.security_protocol.ends_with("ssl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load(None, &vec![]).unwrap();
        assert_eq!(s.kafka.topics.len(), 4);
        assert_eq!(s.lake.compression, "snappy");
    }

    #[test]
    fn bad_value_names_key_value_and_allowed() {
        let err = Settings::load(None, &vec![("lake.compression", "lz5".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("lake.compression"), "{err}");
        assert!(err.contains("lz5"), "{err}");
        assert!(err.contains("zstd, snappy, none"), "{err}");
        for (key, value, allowed) in [
            ("decode.dead_letters", "kafka", "lake, topic, both"),
            ("pipeline.memory_limit_mb", "100", "at least 256"),
            ("lake.multipart_part_mb", "1", "5..=4096"),
            ("lake.file_max_age_secs", "0", "at least 1"),
        ] {
            let err = Settings::load(None, &vec![(key, value.into())])
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains(value), "{err}");
            assert!(err.contains(allowed), "{err}");
        }
    }

    /// An unknown key is one sentence naming it and the allowed keys, said
    /// once even through an error chain (anyhow's `{:#}`).
    #[test]
    fn unknown_key_is_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.toml");
        std::fs::write(&f, "[kafka]\nbrokerz = \"x\"\n").unwrap();
        let err = anyhow::Error::new(Settings::load(Some(&f), &vec![]).unwrap_err());
        let text = format!("{err:#}");
        assert_eq!(text.matches("brokerz").count(), 1, "{text}");
        assert!(text.contains("brokers") && text.contains("kafka"), "{text}");
    }

    /// The codec's column list comes from the environment as a comma-separated
    /// list, and an empty name is refused naming the key.
    #[test]
    fn compressed_columns_from_the_environment_and_validated() {
        let s = Settings::load(None, &vec![]).unwrap();
        assert_eq!(s.lake.compressed_columns, ["song", "artist", "userAgent"]);
        let mut bad = s.clone();
        bad.lake.compressed_columns = vec!["song".into(), " ".into()];
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("lake.compressed_columns"), "{err}");
        let env = environment().source(Some(
            [(
                "MUSICALY__LAKE__COMPRESSED_COLUMNS".to_string(),
                "song,userAgent".to_string(),
            )]
            .into(),
        ));
        let c = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(env)
            .build()
            .unwrap();
        let s: Settings = c.try_deserialize().unwrap();
        assert_eq!(s.lake.compressed_columns, ["song", "userAgent"]);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[pipeline]\nbatch_max_event = 5\n").unwrap();
        let err = Settings::load(Some(&f), &vec![]).unwrap_err().to_string();
        assert!(err.contains("batch_max_event"), "{err}");
    }

    #[test]
    fn wrong_type_names_key() {
        let err = Settings::load(None, &vec![("pipeline.partitions", "many".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("partitions"), "{err}");
    }
}
