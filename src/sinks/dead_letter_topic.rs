//! Dead letters to a Kafka topic (`decode.dead_letters = "topic"` or `"both"`),
//! for teams that replay or alert from Kafka rather than from the lake.
//!
//! Each rejected message is produced as it was read (the raw bytes as the
//! value, the source message's offset as the key) with headers saying where it
//! came from and why: `musicaly.reason`, `musicaly.detail`, `musicaly.topic`,
//! `musicaly.partition`, `musicaly.offset`. The partition actor awaits the
//! deliveries before the batch counts as written, so a committed offset never
//! skips a dead letter; after a crash the uncommitted tail is re-read and its
//! dead letters are produced again (at least once, like any Kafka producer
//! without transactions — the lake's `_dead_letters` table stays exactly once).

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::KafkaSettings;
use crate::messages::{DeadLetter, SourceId};

use super::lake::SinkError;

pub struct DeadLetterTopic {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetterTopic {
    /// A producer on `kafka.brokers` with `kafka.properties` (SASL/SSL...).
    pub fn new(kafka: &KafkaSettings, topic: &str) -> Result<DeadLetterTopic, SinkError> {
        let security = |e: crate::kafka_security::SecurityError| SinkError::Location {
            location: format!("kafka://{}/{topic}", kafka.brokers),
            message: format!("dead-letter producer: {e}"),
        };
        let role = "dead-letter producer";
        crate::kafka_security::check_connection(kafka, role, crate::kafka_security::CHECK_TIMEOUT)
            .map_err(security)?;
        // Security keys only: kafka.properties come last, below.
        let mut cfg = crate::kafka_security::client_config(kafka, |_| false).map_err(security)?;
        cfg.set("enable.idempotence", "true")
            .set("message.timeout.ms", "60000");
        for (k, v) in &kafka.properties {
            // Consumer-only properties would make the producer refuse to start.
            if !is_consumer_only(k) {
                cfg.set(k, v);
            }
        }
        let producer = cfg.create().map_err(|e| SinkError::Location {
            location: format!("kafka://{}/{topic}", kafka.brokers),
            message: format!("dead-letter producer: {e}"),
        })?;
        Ok(DeadLetterTopic {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Produces a batch's dead letters and waits until the broker has them all.
    pub async fn send(&self, source: &SourceId, dead: &[DeadLetter]) -> Result<(), SinkError> {
        let partition = source.partition.to_string();
        let offsets: Vec<String> = dead.iter().map(|d| d.offset.to_string()).collect();
        let pending: Vec<_> = dead
            .iter()
            .zip(&offsets)
            .map(|(d, offset)| {
                let detail = d.error.to_string();
                let headers = OwnedHeaders::new()
                    .insert(header("musicaly.reason", d.error.kind()))
                    .insert(header("musicaly.detail", &detail))
                    .insert(header("musicaly.topic", &source.topic))
                    .insert(header("musicaly.partition", &partition))
                    .insert(header("musicaly.offset", offset));
                let record = FutureRecord::to(&self.topic)
                    .key(offset)
                    .payload(d.raw.as_slice())
                    .headers(headers);
                self.producer.send(record, Duration::from_secs(60))
            })
            .collect();
        for delivery in futures::future::join_all(pending).await {
            delivery.map_err(|(e, _)| SinkError::Location {
                location: format!("kafka topic {}", self.topic),
                message: format!("producing a dead letter of {source}: {e}"),
            })?;
        }
        Ok(())
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// librdkafka consumer properties that a producer rejects.
fn is_consumer_only(key: &str) -> bool {
    key.starts_with("fetch.")
        || key.starts_with("queued.")
        || matches!(
            key,
            "group.id"
                | "session.timeout.ms"
                | "heartbeat.interval.ms"
                | "auto.offset.reset"
                | "enable.auto.commit"
                | "max.poll.interval.ms"
                | "isolation.level"
                | "partition.assignment.strategy"
        )
}
