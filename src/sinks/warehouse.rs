//! Warehouse sink: the embedded DuckDB warehouse, loaded from the lake.
//!
//! Walking-skeleton scope: each event table is rebuilt from the lake's Parquet
//! files in one transaction (so loading twice never duplicates). Incremental
//! hourly loads and the star schema come with the warehouse issue.

use std::path::Path;

use arrow::datatypes::DataType;

use crate::columns;
use crate::event::Table;

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse {path}: {source}")]
    DuckDb { path: String, source: duckdb::Error },
    #[error("warehouse: the lake at {0} is not on local disk; loading from gs:// or s3:// is not supported yet")]
    RemoteLake(String),
}

/// Row counts per table after a load.
pub type LoadReport = Vec<(Table, u64)>;

fn duck_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Utf8 => "VARCHAR",
        DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Float64 => "DOUBLE",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(_, _) => "TIMESTAMPTZ",
        _ => "VARCHAR",
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Opens the warehouse, with its session time zone set to UTC so timestamps
/// print and truncate the same everywhere.
pub fn open(db: &Path) -> Result<duckdb::Connection, WarehouseError> {
    let err = |source| WarehouseError::DuckDb {
        path: db.display().to_string(),
        source,
    };
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    let conn = duckdb::Connection::open(db).map_err(err)?;
    conn.execute_batch("SET TimeZone = 'UTC';").map_err(err)?;
    Ok(conn)
}

/// (Re)loads every event table of the warehouse from the lake.
pub fn load_from_lake(lake: &str, db: &Path) -> Result<LoadReport, WarehouseError> {
    if lake.contains("://") {
        return Err(WarehouseError::RemoteLake(lake.to_string()));
    }
    let err = |source| WarehouseError::DuckDb {
        path: db.display().to_string(),
        source,
    };
    let conn = open(db)?;
    let mut report = Vec::new();
    conn.execute_batch("BEGIN TRANSACTION;").map_err(err)?;
    for table in Table::ALL {
        let schema = columns::schema(table);
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        let defs: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", quote_ident(f.name()), duck_type(f.data_type())))
            .collect();
        let name = quote_ident(table.name());
        let mut sql = format!("CREATE OR REPLACE TABLE {name} ({});", defs.join(", "));
        let dir = Path::new(lake).join(table.name());
        if has_parquet(&dir) {
            let glob = dir.join("**").join("*.parquet");
            sql.push_str(&format!(
                "INSERT INTO {name} SELECT {cols} FROM read_parquet({glob}, hive_partitioning = false, union_by_name = true);",
                cols = cols.join(", "),
                glob = quote_str(&glob.to_string_lossy()),
            ));
        }
        conn.execute_batch(&sql).map_err(err)?;
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {name}"), [], |r| r.get(0))
            .map_err(err)?;
        report.push((table, n as u64));
    }
    conn.execute_batch("COMMIT;").map_err(err)?;
    Ok(report)
}

fn has_parquet(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}
