//! How every Kafka client of the binary (the pipeline's consumer, the dead-letter
//! producer, the simulator's producer) connects: `bootstrap.servers`, TLS and
//! SASL from the `[kafka]` keys, then `[kafka.properties]`.
//!
//! Why one place: a client made without the security keys would connect in
//! plaintext (or not at all) while the others worked, and only in production.
//!
//! Secrets never live in the config file, so `musicaly config` and the settings
//! in any error message or log cannot show them: the SASL password comes from
//! `kafka.sasl_password_file` or the `MUSICALY_KAFKA_SASL_PASSWORD` environment
//! variable, and `[kafka.properties]` may not carry passwords or keys.
//!
//! librdkafka retries a broker that refuses it forever, logging the same error
//! every few hundred milliseconds. A wrong password or an untrusted certificate
//! never heals by itself, so a secured client is probed once when it is made
//! ([`check_connection`]): such a refusal becomes one error naming the broker
//! and the cause, and the command exits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};

use crate::config::{uses_sasl, uses_tls, KafkaSettings, PROTOCOLS};

/// The environment variable read for the SASL password when
/// `kafka.sasl_password_file` is empty.
pub const PASSWORD_ENV: &str = "MUSICALY_KAFKA_SASL_PASSWORD";

/// How long [`check_connection`] waits for a broker to accept or refuse it. A
/// broker that does not answer at all within it is not an error here: the
/// client then retries like any other (the broker may be restarting).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a client could not be made or was refused. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{key} = \"{path}\": cannot read it: {cause}")]
    File {
        key: &'static str,
        path: String,
        cause: std::io::Error,
    },
    #[error("kafka.security_protocol = \"{protocol}\" needs a SASL password: set kafka.sasl_password_file to a file holding it, or the environment variable {PASSWORD_ENV}")]
    NoPassword { protocol: String },
    #[error("Kafka broker {brokers} refused the {role}: {cause}: {detail}")]
    Refused {
        brokers: String,
        role: &'static str,
        cause: &'static str,
        detail: String,
    },
    #[error("Kafka {role} for {brokers}: {detail}")]
    Client {
        brokers: String,
        role: &'static str,
        detail: String,
    },
}

fn readable(key: &'static str, path: &str) -> Result<(), SecurityError> {
    std::fs::metadata(path)
        .and_then(|m| {
            if m.is_file() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a regular file"))
            }
        })
        .and_then(|()| std::fs::File::open(path).map(drop))
        .map_err(|cause| SecurityError::File {
            key,
            path: path.to_string(),
            cause,
        })
}

/// The SASL password: the file's first line, or the environment variable.
fn password(k: &KafkaSettings) -> Result<String, SecurityError> {
    if !k.sasl_password_file.is_empty() {
        let text = std::fs::read_to_string(&k.sasl_password_file).map_err(|cause| {
            SecurityError::File {
                key: "kafka.sasl_password_file",
                path: k.sasl_password_file.clone(),
                cause,
            }
        })?;
        let pw = text.lines().next().unwrap_or("").to_string();
        if pw.is_empty() {
            return Err(SecurityError::File {
                key: "kafka.sasl_password_file",
                path: k.sasl_password_file.clone(),
                cause: std::io::Error::other("the file is empty (its first line is the password)"),
            });
        }
        return Ok(pw);
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(pw) if !pw.is_empty() => Ok(pw),
        _ => Err(SecurityError::NoPassword {
            protocol: k.security_protocol.clone(),
        }),
    }
}

/// A client config with `bootstrap.servers`, the security keys and every
/// `[kafka.properties]` entry that `keep` accepts (a producer drops the
/// consumer-only ones). The caller adds its own properties and creates the
/// client. Files are checked here so a typo names its key.
pub fn client_config(
    k: &KafkaSettings,
    keep: impl Fn(&str) -> bool,
) -> Result<ClientConfig, SecurityError> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &k.brokers);
    let protocol = PROTOCOLS
        .iter()
        .find(|(p, _)| *p == k.security_protocol)
        .map_or("plaintext", |(_, r)| r);
    cfg.set("security.protocol", protocol);
    if uses_tls(k) {
        for (key, path, property) in [
            ("kafka.ssl_ca_file", &k.ssl_ca_file, "ssl.ca.location"),
            (
                "kafka.ssl_certificate_file",
                &k.ssl_certificate_file,
                "ssl.certificate.location",
            ),
            ("kafka.ssl_key_file", &k.ssl_key_file, "ssl.key.location"),
        ] {
            if !path.is_empty() {
                readable(key, path)?;
                cfg.set(property, path);
            }
        }
    }
    if uses_sasl(k) {
        cfg.set("sasl.mechanism", &k.sasl_mechanism)
            .set("sasl.username", &k.sasl_username)
            .set("sasl.password", password(k)?);
    }
    for (key, v) in &k.properties {
        if keep(key) {
            cfg.set(key, v);
        }
    }
    Ok(cfg)
}

const TLS_REFUSED: &str =
    "TLS handshake failed (check kafka.ssl_ca_file, and the client certificate if the broker wants one)";

/// Records the first refusal that retrying cannot cure.
#[derive(Default)]
struct Probe {
    refused: Mutex<Option<(&'static str, String)>>,
}

impl ClientContext for Probe {
    fn log(&self, _level: RDKafkaLogLevel, _fac: &str, _log_message: &str) {
        // The error callback below carries what matters; librdkafka's own
        // lines would repeat it.
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let cause = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication)
            | Some(RDKafkaErrorCode::SaslAuthenticationFailed) => "authentication failed (check kafka.sasl_username, kafka.sasl_mechanism and the password)",
            Some(RDKafkaErrorCode::SSL) => TLS_REFUSED,
            Some(RDKafkaErrorCode::TopicAuthorizationFailed)
            | Some(RDKafkaErrorCode::ClusterAuthorizationFailed) => "not authorised",
            // With TLS 1.3 a client certificate the broker wants but did not
            // get is an alert after the handshake: a transport error.
            _ if reason.contains("SSL") || reason.contains("certificate") => TLS_REFUSED,
            _ => return,
        };
        if let Ok(mut r) = self.refused.lock() {
            r.get_or_insert_with(|| (cause, reason.to_string()));
        }
    }
}

impl ProducerContext for Probe {
    type DeliveryOpaque = ();

    /// The probe sends nothing.
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// Connects once with `cfg`'s connection and security properties and asks for
/// the cluster's metadata: Ok when the broker answers, or when none answers
/// within `timeout` (the client will retry); an error when the broker refuses
/// the credentials or the TLS handshake fails. Plaintext clients are not
/// probed: they have nothing to refuse.
pub fn check_connection(
    k: &KafkaSettings,
    role: &'static str,
    timeout: Duration,
) -> Result<(), SecurityError> {
    if k.security_protocol == "plaintext" {
        return Ok(());
    }
    let cfg = client_config(k, |key| {
        key.starts_with("ssl.") || key.starts_with("sasl.") || key.starts_with("socket.")
    })?;
    let producer: BaseProducer<Probe> =
        cfg.create_with_context(Probe::default())
            .map_err(|e| SecurityError::Client {
                brokers: k.brokers.clone(),
                role,
                detail: e.to_string(),
            })?;
    let deadline = Instant::now() + timeout;
    loop {
        let answered = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(500))
            .is_ok();
        // Errors reach `Probe::error` only through the client's event queue.
        producer.poll(Duration::from_millis(50));
        if let Some((cause, detail)) = producer
            .context()
            .refused
            .lock()
            .ok()
            .and_then(|mut r| r.take())
        {
            return Err(SecurityError::Refused {
                brokers: k.brokers.clone(),
                role,
                cause,
                detail,
            });
        }
        if answered {
            return Ok(());
        }
        if Instant::now() >= deadline {
            tracing::warn!(brokers = %k.brokers, role, "no Kafka broker answered within {}s; the client keeps retrying", timeout.as_secs());
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn kafka() -> KafkaSettings {
        Settings::load(None, &vec![]).unwrap().kafka
    }

    #[test]
    fn defaults_are_plaintext_and_valid() {
        let k = kafka();
        assert_eq!(k.security_protocol, "plaintext");
        crate::config::validate_kafka_security(&k).unwrap();
        let cfg = client_config(&k, |_| true).unwrap();
        assert_eq!(cfg.get("security.protocol"), Some("plaintext"));
        assert_eq!(cfg.get("sasl.password"), None);
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut k = kafka();
        k.security_protocol = "tls".into();
        let e = crate::config::validate_kafka_security(&k)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kafka.security_protocol") && e.contains("sasl_ssl"),
            "{e}"
        );
        k.security_protocol = "sasl_ssl".into();
        k.sasl_mechanism = "GSSAPI".into();
        let e = crate::config::validate_kafka_security(&k)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kafka.sasl_mechanism"), "{e}");
        k.sasl_mechanism = "SCRAM-SHA-512".into();
        k.sasl_username = String::new();
        let e = crate::config::validate_kafka_security(&k)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kafka.sasl_username"), "{e}");
        k.sasl_username = "u".into();
        k.ssl_certificate_file = "c.pem".into();
        let e = crate::config::validate_kafka_security(&k)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kafka.ssl_key_file"), "{e}");
    }

    #[test]
    fn secrets_in_properties_are_refused() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "SSL.KEYSTORE.PASSWORD",
            "ssl.key.pem",
        ] {
            let mut k = kafka();
            k.properties.insert(key.into(), "hunter2".into());
            let e = crate::config::validate_kafka_security(&k)
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains("sasl_password_file"), "{e}");
            assert!(!e.contains("hunter2"), "the value must not be echoed: {e}");
        }
        let mut k = kafka();
        k.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        let e = crate::config::validate_kafka_security(&k)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kafka.security_protocol"), "{e}");
    }

    #[test]
    fn password_from_file_then_environment_never_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = kafka();
        k.security_protocol = "sasl_plaintext".into();
        k.sasl_username = "musicaly".into();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret-from-file\nignored\n").unwrap();
        k.sasl_password_file = f.to_string_lossy().into_owned();
        let cfg = client_config(&k, |_| true).unwrap();
        assert_eq!(cfg.get("sasl.password"), Some("s3cret-from-file"));
        assert_eq!(cfg.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        k.sasl_password_file = dir.path().join("missing").to_string_lossy().into_owned();
        let e = client_config(&k, |_| true).unwrap_err().to_string();
        assert!(
            e.contains("kafka.sasl_password_file") && e.contains("missing"),
            "{e}"
        );
        std::fs::write(&f, "\n").unwrap();
        k.sasl_password_file = f.to_string_lossy().into_owned();
        let e = client_config(&k, |_| true).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn tls_files_are_checked_and_named() {
        let mut k = kafka();
        k.security_protocol = "ssl".into();
        k.ssl_ca_file = "/nonexistent/ca.pem".into();
        let e = client_config(&k, |_| true).unwrap_err().to_string();
        assert!(
            e.contains("kafka.ssl_ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        k.ssl_ca_file = dir.path().to_string_lossy().into_owned();
        let e = client_config(&k, |_| true).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn properties_are_filtered_by_the_caller() {
        let mut k = kafka();
        k.properties.insert("fetch.max.bytes".into(), "1000".into());
        k.properties.insert("linger.ms".into(), "5".into());
        let cfg = client_config(&k, |key| !key.starts_with("fetch.")).unwrap();
        assert_eq!(cfg.get("fetch.max.bytes"), None);
        assert_eq!(cfg.get("linger.ms"), Some("5"));
    }
}
