-- The lake's status_change_events, as the service's warehouse keeps it (same columns, same order).
{{ config(**hourly_config()) }}
select
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
from {{ source('lake', 'status_change_events') }}
where {{ hours_filter('ts') }}
