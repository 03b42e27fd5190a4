-- Every hour of every day from the first to the last day with listens: grows with
-- the data (the original ended on a fixed date). is_weekend = Saturday or Sunday
-- (ISO day of week 6, 7; the original marked Friday and Saturday).
{% if target.type == 'bigquery' %}
with bounds as (
    select timestamp_trunc(min(ts), day) as lo, timestamp_add(timestamp_trunc(max(ts), day), interval 23 hour) as hi
    from {{ ref('fact_streams') }}
),
hours as (
    select h from bounds, unnest(generate_timestamp_array(lo, hi, interval 1 hour)) as h where lo is not null
)
select
    {{ datetime_key('h') }} as datetime_key,
    h as hour_start,
    date(h) as date,
    extract(hour from h) as hour,
    mod(extract(dayofweek from h) + 5, 7) + 1 as day_of_week,
    format_timestamp('%A', h) as day_name,
    extract(day from h) as day_of_month,
    extract(isoweek from h) as week_of_year,
    extract(month from h) as month,
    format_timestamp('%B', h) as month_name,
    extract(quarter from h) as quarter,
    extract(year from h) as year,
    mod(extract(dayofweek from h) + 5, 7) + 1 in (6, 7) as is_weekend
from hours
{% else %}
with bounds as (
    select date_trunc('day', min(ts)) as lo, date_trunc('day', max(ts)) + interval 23 hour as hi
    from {{ ref('fact_streams') }}
),
hours as (
    select unnest(generate_series(lo, hi, interval 1 hour)) as h from bounds where lo is not null
)
select
    {{ datetime_key('h') }} as datetime_key,
    h as hour_start,
    cast(h as date) as date,
    hour(h) as hour,
    isodow(h) as day_of_week,
    dayname(h) as day_name,
    day(h) as day_of_month,
    weekofyear(h) as week_of_year,
    month(h) as month,
    monthname(h) as month_name,
    quarter(h) as quarter,
    year(h) as year,
    isodow(h) in (6, 7) as is_weekend
from hours
{% endif %}
