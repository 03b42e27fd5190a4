-- The lake's page_view_events, as the service's warehouse keeps it (same columns, same order).
{{ config(**hourly_config()) }}
select
    ts,
    sessionId,
    page,
    auth,
    method,
    status,
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
    artist,
    song,
    duration,
    _partition,
    _offset
from {{ source('lake', 'page_view_events') }}
where {{ hours_filter('ts') }}
