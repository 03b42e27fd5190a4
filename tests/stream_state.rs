//! The stream's derived outputs (sessions, window aggregates) of a finished run
//! equal the same quantities computed independently in SQL over the lake.

mod common;
use common::*;

#[test]
fn sessions_and_windows_equal_sql_over_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_ok(
        bin()
            .args([
                "run",
                "-n",
                "250",
                "-s",
                "2026-11-06T00:00:00",
                "-e",
                "2026-11-08T00:00:00",
                "-r",
                "4",
                "--data-dir",
            ])
            .arg(&data),
    );
    let lake = data.join("lake");
    let c = duck();
    let pv = lake_glob(&lake, "page_view_events");
    let li = lake_glob(&lake, "listen_events");
    let ses = lake_glob(&lake, "sessions");

    // Sessions: gap-based per user (hidden users keyed by eventsim's sessionId).
    let sql_sessions = format!(
        "WITH e AS (SELECT *, CASE WHEN userId IS NULL THEN 'a' || sessionId ELSE 'u' || userId END AS k FROM read_parquet('{pv}')),
              g AS (SELECT *, CASE WHEN epoch_ms(ts) - epoch_ms(lag(ts) OVER w) <= 1800000 THEN 0 ELSE 1 END AS new
                    FROM e WINDOW w AS (PARTITION BY k ORDER BY ts, _partition, _offset)),
              s AS (SELECT *, sum(new) OVER (PARTITION BY k ORDER BY ts, _partition, _offset ROWS UNBOUNDED PRECEDING) AS sn FROM g)
         SELECT k, epoch_ms(min(ts)) AS s, epoch_ms(max(ts)) AS e, count(*)::INT AS events,
                count(*) FILTER (WHERE page = 'NextSong')::INT AS songs,
                coalesce(sum(duration) FILTER (WHERE page = 'NextSong'), 0) AS secs
         FROM s GROUP BY k, sn"
    );
    let stream_sessions = format!(
        "SELECT CASE WHEN userId IS NULL THEN 'a' || sessionId ELSE 'u' || userId END AS k, epoch_ms(session_start) AS s,
                epoch_ms(session_end) AS e, events, songs, listen_seconds AS secs FROM read_parquet('{ses}')"
    );
    let n: i64 = c
        .query_row(&format!("SELECT count(*) FROM ({sql_sessions})"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(n > 100, "too few sessions to compare: {n}");
    let m: i64 = c
        .query_row(
            &format!("SELECT count(*) FROM ({stream_sessions})"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(m, n, "session count: stream vs SQL");
    for (a, b) in [
        (&sql_sessions, &stream_sessions),
        (&stream_sessions, &sql_sessions),
    ] {
        let diff: i64 = c
            .query_row(&format!("SELECT count(*) FROM ((SELECT k, s, e, events, songs FROM ({a})) EXCEPT (SELECT k, s, e, events, songs FROM ({b})))"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(diff, 0, "sessions differ");
    }
    let worst: f64 = c
        .query_row(&format!("SELECT max(abs(a.secs - b.secs)) FROM ({sql_sessions}) a JOIN ({stream_sessions}) b USING (k, s)"), [], |r| r.get(0))
        .unwrap();
    assert!(worst < 1e-6, "session listening seconds differ by {worst}");

    // Hourly and per-minute KPIs, overall and by state, gender and level.
    let kp = lake_glob(&lake, "agg_kpis");
    for (grain, trunc) in [("hour", "hour"), ("minute", "minute")] {
        let sql = format!(
            "SELECT epoch_ms(date_trunc('{trunc}', ts)) AS w, 'all' AS d, NULL::VARCHAR AS v, count(DISTINCT userId) AS u, count(*) AS l, sum(duration) / 3600 AS h
             FROM read_parquet('{li}') GROUP BY 1
             UNION ALL
             SELECT epoch_ms(date_trunc('{trunc}', ts)), 'state', state, count(DISTINCT userId), count(*), sum(duration) / 3600
             FROM read_parquet('{li}') GROUP BY 1, 3
             UNION ALL
             SELECT epoch_ms(date_trunc('{trunc}', ts)), 'gender', gender, count(DISTINCT userId), count(*), sum(duration) / 3600
             FROM read_parquet('{li}') GROUP BY 1, 3
             UNION ALL
             SELECT epoch_ms(date_trunc('{trunc}', ts)), 'level', level, count(DISTINCT userId), count(*), sum(duration) / 3600
             FROM read_parquet('{li}') GROUP BY 1, 3"
        );
        let stream = format!(
            "SELECT epoch_ms(window_start) AS w, dimension AS d, value AS v, active_users AS u, listens AS l, stream_hours AS h
             FROM read_parquet('{kp}') WHERE grain = '{grain}'"
        );
        let n: i64 = c
            .query_row(&format!("SELECT count(*) FROM ({sql})"), [], |r| r.get(0))
            .unwrap();
        let m: i64 = c
            .query_row(&format!("SELECT count(*) FROM ({stream})"), [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(m, n, "{grain} KPI rows");
        for (a, b) in [(&sql, &stream), (&stream, &sql)] {
            let diff: i64 = c
                .query_row(&format!("SELECT count(*) FROM ((SELECT w, d, v, u, l FROM ({a})) EXCEPT (SELECT w, d, v, u, l FROM ({b})))"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(diff, 0, "{grain} KPIs differ");
        }
        // Stream hours: equal up to float summation order.
        let worst: f64 = c
            .query_row(&format!("SELECT max(abs(a.h - b.h)) FROM ({sql}) a JOIN ({stream}) b ON a.w = b.w AND a.d = b.d AND a.v IS NOT DISTINCT FROM b.v"), [], |r| r.get(0))
            .unwrap();
        assert!(worst < 1e-9, "{grain} stream hours differ by {worst}");
    }

    // Top 10 artists per hour, ties by name.
    let ta = lake_glob(&lake, "agg_top_artists");
    let sql = format!(
        "SELECT w, artist, n, rank FROM (
           SELECT epoch_ms(date_trunc('hour', ts)) AS w, artist, count(*) AS n,
                  row_number() OVER (PARTITION BY date_trunc('hour', ts) ORDER BY count(*) DESC, artist) AS rank
           FROM read_parquet('{li}') GROUP BY date_trunc('hour', ts), artist) WHERE rank <= 10"
    );
    let stream = format!("SELECT epoch_ms(window_start), artist, listens, rank FROM read_parquet('{ta}') WHERE grain = 'hour'");
    for (a, b) in [(&sql, &stream), (&stream, &sql)] {
        let diff: i64 = c
            .query_row(
                &format!("SELECT count(*) FROM (({a}) EXCEPT ({b}))"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(diff, 0, "hourly top artists differ");
    }
    // Distinct listeners by gender of the top 5 artists per hour.
    let tg = lake_glob(&lake, "agg_top_artists_gender");
    let sql = format!(
        "WITH top AS (SELECT w, artist FROM ({sql}) WHERE rank <= 5)
         SELECT t.w, t.artist, l.gender, count(DISTINCT l.userId)
         FROM top t JOIN read_parquet('{li}') l
           ON epoch_ms(date_trunc('hour', l.ts)) = t.w AND l.artist = t.artist
         GROUP BY 1, 2, 3"
    );
    let stream = format!("SELECT epoch_ms(window_start), artist, gender, users FROM read_parquet('{tg}') WHERE grain = 'hour'");
    for (a, b) in [(&sql, &stream), (&stream, &sql)] {
        let diff: i64 = c
            .query_row(
                &format!("SELECT count(*) FROM (({a}) EXCEPT ({b}))"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(diff, 0, "hourly top artists' listeners by gender differ");
    }
    // No late events in a finished in-order run.
    assert!(!lake.join("_late").exists(), "unexpected late events");
}
