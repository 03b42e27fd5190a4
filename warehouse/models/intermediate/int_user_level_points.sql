-- Per hour, each user's first event and every event whose level differs from the
-- user's previous event in that hour: enough to rebuild the level history
-- (dim_users) without rereading old hours. The service keeps the same rows in
-- _user_level_points. Ties within a millisecond are ordered by table, then lake
-- identity (src: listen 0, page view 1, auth 2, status change 3).
{{ config(**hourly_config()) }}
with events as (
    {% for t, src in [('listen_events', 0), ('page_view_events', 1), ('auth_events', 2), ('status_change_events', 3)] %}
    select userId as user_id, ts, {{ src }} as src, _partition as part, _offset as off, level,
           firstName as first_name, lastName as last_name, gender, registration
    from {{ ref(t) }}
    where userId is not null and {{ hours_filter('ts') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
ordered as (
    select *, lag(level) over (partition by user_id, {{ hour_trunc('ts') }} order by ts, src, part, off) as prev
    from events
)
select user_id, ts, src, part, off, level, first_name, last_name, gender, registration
from ordered
where prev is null or prev != level
