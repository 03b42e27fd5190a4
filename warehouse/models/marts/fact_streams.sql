-- Exactly one row per listen event (stream_key = lake partition-offset). Missing
-- artist, song, location or user map to the 'unknown' members, never dropped.
-- On BigQuery incremental: a run replaces the hour partitions it loads.
{{ config(materialized=('incremental' if target.type == 'bigquery' else 'table'), **hourly_config()) }}
select
    {{ str('l._partition') }} || '-' || {{ str('l._offset') }} as stream_key,
    l.ts,
    {{ datetime_key('l.ts') }} as datetime_key,
    coalesce(u.user_key, 'unknown') as user_key,
    l.userId as user_id,
    l.sessionId as session_id,
    {{ song_key('l.artist', 'l.song') }} as song_key,
    {{ artist_key('l.artist') }} as artist_key,
    {{ location_key('l.city', 'l.state', 'l.zip', 'l.lat', 'l.lon') }} as location_key,
    l.level,
    l.duration,
    l.itemInSession as item_in_session
from {{ ref('listen_events') }} l
left join {{ ref('dim_users') }} u
    on u.user_id = l.userId and l.ts >= u.valid_from and l.ts < coalesce(u.valid_to, {{ far_future() }})
where {{ hours_filter('l.ts') }}
