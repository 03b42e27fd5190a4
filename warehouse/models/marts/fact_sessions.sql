-- One row per session (user, sessionId; logged-out sessions as 'guest'): start,
-- end, page views and listens, from every page view.
select
    coalesce({{ str('userId') }}, 'guest') || '-' || {{ str('sessionId') }} as session_key,
    any_value(sessionId) as session_id,
    any_value(userId) as user_id,
    min(ts) as start_ts,
    max(ts) as end_ts,
    count(*) as page_views,
    {% if target.type == 'bigquery' -%} countif(page = 'NextSong') {%- else -%} count(*) filter (where page = 'NextSong') {%- endif %} as listens
from {{ ref('page_view_events') }}
group by 1
