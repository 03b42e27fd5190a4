//! The warehouse's hourly loads: every listen exactly once in `fact_streams` and
//! `wide_streams` (also with missing artist, song and location fields), every key
//! resolving to a dimension row, type-2 users, and loads that are idempotent and
//! independent of the order hours arrive in.

mod common;
use common::*;

use std::path::Path;

const SIM: [&str; 8] = [
    "-n",
    "120",
    "-s",
    "2026-11-06T00:00:00",
    "-e",
    "2026-11-08T00:00:00",
    "-r",
    "5",
];

fn checksums(db: &Path) -> Vec<(String, i64, String)> {
    let c = duckdb::Connection::open(db).unwrap();
    c.execute_batch("SET TimeZone = 'UTC';").unwrap();
    table_checksums(&c, "main")
}

#[test]
fn hourly_loads_are_exactly_once_idempotent_and_order_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_ok(bin().arg("run").args(SIM).arg("--data-dir").arg(&data));
    let lake = data.join("lake");
    let db = data.join("warehouse.duckdb");

    let extra = add_listens_with_missing_fields(&lake);
    assert_eq!(extra, 10);
    // only the changed hour is reloaded
    let out = run_ok(bin().arg("load").arg("--data-dir").arg(&data));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loaded"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let c = duck();
    let listens = lake_rows(&c, &lake, "listen_events") as i64;
    let wh = duckdb::Connection::open(&db).unwrap();
    wh.execute_batch("SET TimeZone = 'UTC';").unwrap();
    assert_eq!(scalar(&wh, "SELECT count(*) FROM listen_events"), listens);
    // exactly once, by identity
    for t in ["fact_streams", "wide_streams"] {
        assert_eq!(
            scalar(&wh, &format!("SELECT count(*) FROM {t}")),
            listens,
            "{t}"
        );
        assert_eq!(
            scalar(&wh, &format!("SELECT count(DISTINCT stream_key) FROM {t}")),
            listens,
            "{t} distinct"
        );
    }
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM listen_events l ANTI JOIN fact_streams f
             ON f.stream_key = l._partition::VARCHAR || '-' || l._offset::VARCHAR"
        ),
        0
    );
    // the listens with missing fields map to unknown members
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM fact_streams WHERE artist_key = 'unknown' AND location_key = 'unknown'"
        ),
        10
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM fact_streams WHERE song_key = 'unknown'"
        ),
        scalar(&wh, "SELECT count(*) FROM listen_events WHERE song IS NULL")
    );
    // sessions cover every page view once; the hourly aggregate every listen once
    assert_eq!(
        scalar(&wh, "SELECT sum(page_views) FROM fact_sessions"),
        scalar(&wh, "SELECT count(*) FROM page_view_events")
    );
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) - count(DISTINCT session_key) FROM fact_sessions"
        ),
        0
    );
    assert_eq!(
        scalar(&wh, "SELECT sum(listens) FROM agg_streams_hourly"),
        listens
    );
    // every key resolves to exactly one dimension row
    for (dim, key) in [
        ("dim_users", "user_key"),
        ("dim_songs", "song_key"),
        ("dim_artists", "artist_key"),
        ("dim_location", "location_key"),
        ("dim_datetime", "datetime_key"),
    ] {
        assert_eq!(
            scalar(
                &wh,
                &format!("SELECT count(*) - count(DISTINCT {key}) FROM {dim}")
            ),
            0,
            "{dim}.{key} unique"
        );
        assert_eq!(
            scalar(
                &wh,
                &format!("SELECT count(*) FROM fact_streams f ANTI JOIN {dim} d USING ({key})")
            ),
            0,
            "fact_streams.{key} → {dim}"
        );
    }
    // artists with different names never share a key; songs are one row per (artist, title)
    assert_eq!(
        scalar(&wh, "SELECT count(*) - count(DISTINCT artist_name) FROM dim_artists WHERE artist_key <> 'unknown'"),
        0
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) - count(DISTINCT (artist_name, title)) FROM dim_songs WHERE song_key <> 'unknown'"),
        0
    );
    // the user version of each listen has the listen's level (type 2 on level)
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM fact_streams f JOIN dim_users u USING (user_key) WHERE u.level <> f.level"
        ),
        0
    );
    // versions of a user do not overlap, exactly one is current
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM (SELECT user_id, count(*) FILTER (WHERE is_current) cur FROM dim_users WHERE user_id IS NOT NULL GROUP BY 1) WHERE cur <> 1"
        ),
        0
    );
    assert!(
        scalar(
            &wh,
            "SELECT count(*) FROM (SELECT user_id FROM dim_users GROUP BY 1 HAVING count(*) > 1)"
        ) > 0,
        "no user changed level: the type-2 history is untested"
    );
    // weekend = Saturday and Sunday; whole days, no fixed end
    assert_eq!(
        scalar(
            &wh,
            "SELECT count(*) FROM dim_datetime WHERE is_weekend <> (dayname(hour_start) IN ('Saturday', 'Sunday'))"
        ),
        0
    );
    assert_eq!(scalar(&wh, "SELECT count(*) FROM dim_datetime"), 48);
    assert!(
        scalar(
            &wh,
            "SELECT count(*) FROM dim_location WHERE state_name IS NOT NULL"
        ) > 0
    );
    drop(wh);

    // Loading every hour again changes nothing.
    let before = checksums(&db);
    run_ok(bin().args(["load", "--force", "--data-dir"]).arg(&data));
    assert_eq!(checksums(&db), before, "second load of every hour");

    // A fresh warehouse loaded hour by hour in reverse order is the same.
    let mut hours: Vec<String> = c
        .prepare(&format!(
            "SELECT DISTINCT strftime(date_trunc('hour', ts), '%Y-%m-%dT%H:00:00') h FROM read_parquet('{}') ORDER BY h DESC",
            lake_glob(&lake, "page_view_events")
        ))
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(hours.len() > 24);
    let db2 = tmp.path().join("reverse.duckdb");
    let cfg = tmp.path().join("reverse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[lake]\npath = \"{}\"\n[warehouse]\npath = \"{}\"\n",
            lake.display(),
            db2.display()
        ),
    )
    .unwrap();
    for chunk in hours.chunks(12) {
        let mut cmd = bin();
        cmd.arg("load").arg("-c").arg(&cfg);
        for h in chunk {
            cmd.args(["--hour", h]);
        }
        run_ok(&mut cmd);
    }
    assert_eq!(checksums(&db2), before, "reverse-order load");

    // Emptying an hour of the lake and reloading it removes its rows.
    hours.sort();
    let first = &hours[0];
    let n_first = scalar(
        &c,
        &format!(
            "SELECT count(*) FROM read_parquet('{}') WHERE ts >= TIMESTAMPTZ '{first}+00' AND ts < TIMESTAMPTZ '{first}+00' + INTERVAL 1 HOUR",
            lake_glob(&lake, "listen_events")
        ),
    );
    for t in TABLES {
        let d = lake.join(t).join(format!(
            "year={}/month={}/day={}/hour={}",
            &first[0..4],
            &first[5..7],
            &first[8..10],
            &first[11..13]
        ));
        let _ = std::fs::remove_dir_all(d);
    }
    run_ok(bin().args(["load", "--hour", first, "-c"]).arg(&cfg));
    let wh = duckdb::Connection::open(&db2).unwrap();
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM fact_streams"),
        listens - n_first
    );
    assert_eq!(
        scalar(&wh, "SELECT count(*) FROM listen_events"),
        listens - n_first
    );
}
