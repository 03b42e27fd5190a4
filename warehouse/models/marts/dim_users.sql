-- Type-2 history of each user's level: one row per run of equal level, valid
-- [valid_from, valid_to), valid_to NULL while current. Plus the 'unknown' member
-- for listens without a user.
with points as (
    select *, lag(level) over (partition by user_id order by ts, src, part, off) as prev
    from {{ ref('int_user_level_points') }}
),
runs as (
    select * from points where prev is null or prev != level
)
select
    {{ md5_hex(str('user_id') ~ " || '-' || " ~ str(epoch_ms('ts')) ~ " || '-' || " ~ str('src') ~ " || '-' || " ~ str('part') ~ " || '-' || " ~ str('off')) }} as user_key,
    user_id, first_name, last_name, gender, registration, level,
    ts as valid_from,
    lead(ts) over w as valid_to,
    lead(ts) over w is null as is_current
from runs
window w as (partition by user_id order by ts, src, part, off)
union all
select 'unknown', null, null, null, null, null, null, null, null, true
