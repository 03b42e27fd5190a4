-- Per hour and state: listens, active users, paid listens, streamed seconds (exact
-- decimal, so any summation order gives the same total).
{{ config(materialized=('incremental' if target.type == 'bigquery' else 'table'),
          **({'partition_by': {'field': 'hour_start', 'data_type': 'timestamp', 'granularity': 'hour'},
              'incremental_strategy': 'insert_overwrite'} if target.type == 'bigquery' else {})) }}
select
    {{ hour_trunc('ts') }} as hour_start,
    {{ datetime_key('ts') }} as datetime_key,
    upper(trim(state)) as state_code,
    count(*) as listens,
    count(distinct userId) as active_users,
    {% if target.type == 'bigquery' -%} countif(level = 'paid') {%- else -%} count(*) filter (where level = 'paid') {%- endif %} as paid_listens,
    sum(cast(duration as {{ 'numeric' if target.type == 'bigquery' else 'decimal(18, 3)' }})) as stream_seconds
from {{ ref('listen_events') }}
where {{ hours_filter('ts') }}
group by 1, 2, 3
