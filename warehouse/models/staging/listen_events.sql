-- The lake's listen_events, as the service's warehouse keeps it (same columns, same order).
{{ config(**hourly_config()) }}
select
    artist,
    song,
    duration,
    ts,
    sessionId,
    auth,
    level,
    itemInSession,
    city,
    zip,
    state,
    userAgent,
    lat,
    lon,
    userId,
    lastName,
    firstName,
    gender,
    registration,
    _partition,
    _offset
from {{ source('lake', 'listen_events') }}
where {{ hours_filter('ts') }}
