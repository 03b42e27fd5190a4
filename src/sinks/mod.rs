//! Sinks: where decoded batches become durable (the Parquet lake) and where the
//! lake becomes queryable (the DuckDB warehouse).

pub mod bigquery;
pub mod lake;
pub mod warehouse;
