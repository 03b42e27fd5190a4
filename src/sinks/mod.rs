//! Sinks: where decoded batches become durable (the Parquet lake) and where the
//! lake becomes queryable (the DuckDB warehouse); dead letters may also go to a
//! Kafka topic.

pub mod bigquery;
pub mod dead_letter_topic;
pub mod lake;
pub mod warehouse;
