-- Fails (returns rows) unless fact_streams and wide_streams have one row per listen.
with c as (
    select
        (select count(*) from {{ ref('listen_events') }}) as listens,
        (select count(*) from {{ ref('fact_streams') }}) as facts,
        (select count(*) from {{ ref('wide_streams') }}) as wide
)
select * from c where facts != listens or wide != listens
