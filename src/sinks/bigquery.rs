//! BigQuery in production: the path from the GCS lake into BigQuery.
//!
//! Two layers, both generated from the lake's Arrow schemas (`columns.rs`) so
//! they cannot drift from what the lake writes:
//! - **External tables** over the lake (`<dataset_lake>.<table>`), hive-partitioned on
//!   `year/month/day/hour`: the dbt project's sources on the `bigquery` target. No
//!   copy; dbt's incremental models read one hour through them (partition pruning
//!   on the hive keys).
//! - **Hourly load jobs** into native tables partitioned by hour on `ts`, for
//!   teams that prefer loaded tables: one `jobs.insert` request per table and hour,
//!   writing the partition `table$YYYYMMDDHH` with `WRITE_TRUNCATE`, so loading an
//!   hour again replaces it (the original's hourly job appended and duplicated).
//!
//! Nothing here talks to Google: `musicaly bigquery` prints the DDL and request
//! bodies, which `bq query` / `bq load` / any HTTP client submit (docs/BIGQUERY.md).

use arrow::datatypes::DataType;

use crate::columns;
use crate::event::Table;

#[derive(Debug, thiserror::Error)]
pub enum BigQueryError {
    #[error("bigquery: the lake must be on GCS (gs://bucket/prefix), got {0:?}")]
    NotGcs(String),
    #[error("bigquery: {what} {value:?} is not a valid BigQuery name (letters, digits, _ and - for projects)")]
    BadName { what: &'static str, value: String },
}

/// Where the lake is and where the warehouse goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub project: String,
    /// Dataset of the external tables over the lake (dbt's sources).
    pub lake_dataset: String,
    /// Dataset of the loaded tables and the dbt models.
    pub dataset: String,
    /// `gs://bucket/prefix` (no trailing slash).
    pub lake: String,
    /// BigQuery location of the datasets, e.g. `US`.
    pub location: String,
}

impl Target {
    pub fn new(
        project: &str,
        lake_dataset: &str,
        dataset: &str,
        lake: &str,
        location: &str,
    ) -> Result<Target, BigQueryError> {
        if !lake.starts_with("gs://") || lake.len() <= 5 {
            return Err(BigQueryError::NotGcs(lake.to_string()));
        }
        let ok = |s: &str, dash: bool| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || (dash && c == '-'))
        };
        for (what, value, dash) in [
            ("project", project, true),
            ("dataset", lake_dataset, false),
            ("dataset", dataset, false),
        ] {
            if !ok(value, dash) {
                return Err(BigQueryError::BadName {
                    what,
                    value: value.to_string(),
                });
            }
        }
        Ok(Target {
            project: project.to_string(),
            lake_dataset: lake_dataset.to_string(),
            dataset: dataset.to_string(),
            lake: lake.trim_end_matches('/').to_string(),
            location: location.to_string(),
        })
    }
}

fn bq_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Utf8 => "STRING",
        DataType::Int32 | DataType::Int64 => "INT64",
        DataType::Float64 => "FLOAT64",
        DataType::Boolean => "BOOL",
        DataType::Timestamp(_, _) => "TIMESTAMP",
        _ => "STRING",
    }
}

fn columns_ddl(table: Table) -> String {
    columns::schema(table)
        .fields()
        .iter()
        .map(|f| {
            let not_null = if f.is_nullable() { "" } else { " NOT NULL" };
            format!("  `{}` {}{}", f.name(), bq_type(f.data_type()), not_null)
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

/// DDL: the two datasets, an external table per event table over the lake, and
/// the native hour-partitioned tables the load jobs write.
pub fn ddl(t: &Target) -> String {
    let mut out = String::new();
    for ds in [&t.lake_dataset, &t.dataset] {
        out.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS `{}.{}` OPTIONS (location = '{}');\n\n",
            t.project, ds, t.location
        ));
    }
    for table in Table::ALL {
        let name = table.name();
        out.push_str(&format!(
            "CREATE OR REPLACE EXTERNAL TABLE `{p}.{ds}.{name}` (\n{cols}\n)\n\
             WITH PARTITION COLUMNS (`year` INT64, `month` INT64, `day` INT64, `hour` INT64)\n\
             OPTIONS (\n  format = 'PARQUET',\n  uris = ['{lake}/{name}/*'],\n  \
             hive_partition_uri_prefix = '{lake}/{name}',\n  require_hive_partition_filter = false\n);\n\n",
            p = t.project,
            ds = t.lake_dataset,
            cols = columns_ddl(table),
            lake = t.lake,
        ));
    }
    for table in Table::ALL {
        out.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS `{p}.{ds}.{name}` (\n{cols}\n)\n\
             PARTITION BY TIMESTAMP_TRUNC(ts, HOUR)\nCLUSTER BY userId;\n\n",
            p = t.project,
            ds = t.dataset,
            name = table.name(),
            cols = columns_ddl(table),
        ));
    }
    out
}

/// The `jobs.insert` request bodies that (re)load one lake hour into the native
/// tables: one per event table, each replacing exactly that hour's partition.
pub fn load_jobs(t: &Target, hour_ms: i64) -> Vec<serde_json::Value> {
    let hour_ms = hour_ms.div_euclid(3_600_000) * 3_600_000;
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(hour_ms).unwrap_or_default();
    let decorator = dt.format("%Y%m%d%H").to_string();
    let part = crate::sinks::lake::hour_partition(hour_ms);
    Table::ALL
        .iter()
        .map(|table| {
            let name = table.name();
            let fields: Vec<serde_json::Value> = columns::schema(*table)
                .fields()
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name(),
                        "type": bq_type(f.data_type()),
                        "mode": if f.is_nullable() { "NULLABLE" } else { "REQUIRED" },
                    })
                })
                .collect();
            serde_json::json!({
                "jobReference": {
                    "projectId": t.project,
                    "location": t.location,
                    // Deterministic: BigQuery rejects a second job with the same id,
                    // so a retried submission cannot load the hour twice.
                    "jobId": format!("musicaly_load_{name}_{decorator}"),
                },
                "configuration": {
                    "load": {
                        "sourceUris": [format!("{}/{name}/{part}/*.parquet", t.lake)],
                        "sourceFormat": "PARQUET",
                        "destinationTable": {
                            "projectId": t.project,
                            "datasetId": t.dataset,
                            "tableId": format!("{name}${decorator}"),
                        },
                        "schema": { "fields": fields },
                        "timePartitioning": { "type": "HOUR", "field": "ts" },
                        "clustering": { "fields": ["userId"] },
                        "writeDisposition": "WRITE_TRUNCATE",
                        "createDisposition": "CREATE_IF_NEEDED",
                        "parquetOptions": { "enableListInference": true },
                    }
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::new(
            "musicaly-prod",
            "musicaly_lake",
            "musicaly",
            "gs://musicaly-lake/events/",
            "EU",
        )
        .unwrap()
    }

    #[test]
    fn ddl_covers_every_table_and_column() {
        let d = ddl(&target());
        assert!(d.contains(
            "CREATE SCHEMA IF NOT EXISTS `musicaly-prod.musicaly_lake` OPTIONS (location = 'EU')"
        ));
        for table in Table::ALL {
            let ext = format!(
                "CREATE OR REPLACE EXTERNAL TABLE `musicaly-prod.musicaly_lake.{}`",
                table.name()
            );
            let start = d.find(&ext).unwrap_or_else(|| panic!("{ext}"));
            let stmt = &d[start..start + d[start..].find(";\n").unwrap()];
            for f in columns::schema(table).fields() {
                assert!(stmt.contains(&format!("`{}` ", f.name())), "{}", f.name());
            }
            assert!(stmt.contains(&format!(
                "uris = ['gs://musicaly-lake/events/{}/*']",
                table.name()
            )));
            assert!(stmt.contains(&format!(
                "hive_partition_uri_prefix = 'gs://musicaly-lake/events/{}'",
                table.name()
            )));
            assert!(d.contains(&format!(
                "CREATE TABLE IF NOT EXISTS `musicaly-prod.musicaly.{}`",
                table.name()
            )));
        }
        assert!(d.contains("`ts` TIMESTAMP NOT NULL"));
        assert!(d.contains("`duration` FLOAT64,"));
        assert_eq!(
            d.matches("PARTITION BY TIMESTAMP_TRUNC(ts, HOUR)").count(),
            4
        );
    }

    #[test]
    fn load_jobs_replace_one_hour_partition() {
        // 2026-11-07T13:25:00Z, loads the 13:00 hour
        let jobs = load_jobs(&target(), 1_794_057_900_000);
        assert_eq!(jobs.len(), 4);
        let listen = jobs
            .iter()
            .find(|j| {
                j["configuration"]["load"]["destinationTable"]["tableId"]
                    .as_str()
                    .unwrap()
                    .starts_with("listen_events$")
            })
            .unwrap();
        let load = &listen["configuration"]["load"];
        assert_eq!(
            load["destinationTable"]["tableId"],
            "listen_events$2026110713"
        );
        assert_eq!(
            load["sourceUris"][0],
            "gs://musicaly-lake/events/listen_events/year=2026/month=11/day=07/hour=13/*.parquet"
        );
        assert_eq!(load["writeDisposition"], "WRITE_TRUNCATE");
        assert_eq!(load["timePartitioning"]["type"], "HOUR");
        assert_eq!(
            listen["jobReference"]["jobId"],
            "musicaly_load_listen_events_2026110713"
        );
        let fields = load["schema"]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), columns::schema(Table::Listen).fields().len());
        assert!(fields
            .iter()
            .any(|f| f["name"] == "ts" && f["type"] == "TIMESTAMP" && f["mode"] == "REQUIRED"));
    }

    #[test]
    fn bad_targets_are_rejected() {
        assert!(matches!(
            Target::new("p", "a", "b", "/tmp/lake", "US"),
            Err(BigQueryError::NotGcs(_))
        ));
        assert!(matches!(
            Target::new("p", "a-b", "b", "gs://x/y", "US"),
            Err(BigQueryError::BadName { .. })
        ));
    }
}
