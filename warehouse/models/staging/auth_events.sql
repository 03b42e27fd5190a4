-- The lake's auth_events, as the service's warehouse keeps it (same columns, same order).
{{ config(**hourly_config()) }}
select
    ts,
    sessionId,
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
    success,
    _partition,
    _offset
from {{ source('lake', 'auth_events') }}
where {{ hours_filter('ts') }}
