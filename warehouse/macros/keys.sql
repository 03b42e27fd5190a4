{#-
  Surrogate keys and SQL that differs between DuckDB and BigQuery. Keys are md5 of
  the whole natural key (never sequences), so an incremental load and a full build
  agree, and the expressions equal the service's (src/sinks/warehouse.rs).
-#}

{% macro md5_hex(expr) -%}
  {%- if target.type == 'bigquery' -%} to_hex(md5({{ expr }})) {%- else -%} md5({{ expr }}) {%- endif -%}
{%- endmacro %}

{# chr(31) separates parts, so ("a|b", "c") and ("a", "b|c") differ. #}
{% macro key_sep() -%}
  {%- if target.type == 'bigquery' -%} '\x1f' {%- else -%} chr(31) {%- endif -%}
{%- endmacro %}

{% macro str(expr) -%}
  cast({{ expr }} as {{ 'string' if target.type == 'bigquery' else 'varchar' }})
{%- endmacro %}

{% macro epoch_ms(expr) -%}
  {%- if target.type == 'bigquery' -%} unix_millis({{ expr }}) {%- else -%} epoch_ms({{ expr }}) {%- endif -%}
{%- endmacro %}

{% macro artist_key(artist) -%}
  case when {{ artist }} is null then 'unknown' else {{ md5_hex(artist) }} end
{%- endmacro %}

{% macro song_key(artist, song) -%}
  case when {{ song }} is null then 'unknown'
       else {{ md5_hex("coalesce(" ~ artist ~ ", '') || " ~ key_sep() ~ " || " ~ song) }} end
{%- endmacro %}

{% macro location_key(city, state, zip, lat, lon) -%}
  case when {{ city }} is null and {{ state }} is null and {{ zip }} is null and {{ lat }} is null and {{ lon }} is null then 'unknown'
       else {{ md5_hex(
         "coalesce(" ~ city ~ ", '') || " ~ key_sep() ~
         " || coalesce(" ~ state ~ ", '') || " ~ key_sep() ~
         " || coalesce(" ~ zip ~ ", '') || " ~ key_sep() ~
         " || coalesce(" ~ str(lat) ~ ", '') || " ~ key_sep() ~
         " || coalesce(" ~ str(lon) ~ ", '')") }} end
{%- endmacro %}

{% macro datetime_key(ts) -%}
  {%- if target.type == 'bigquery' -%} cast(format_timestamp('%Y%m%d%H', {{ ts }}) as int64)
  {%- else -%} cast(strftime({{ ts }}, '%Y%m%d%H') as bigint) {%- endif -%}
{%- endmacro %}

{# Rows of the hours in var('hours') only (all rows when it is empty). #}
{% macro hours_filter(ts) -%}
  {%- set hours = var('hours', []) -%}
  {%- if hours | length > 0 -%}
    {%- if target.type == 'bigquery' -%}
      timestamp_trunc({{ ts }}, hour) in ({% for h in hours %}timestamp '{{ h }}+00'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else -%}
      date_trunc('hour', {{ ts }}) in ({% for h in hours %}timestamptz '{{ h }}+00'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
  {%- else -%} true {%- endif -%}
{%- endmacro %}

{# Incremental config of hour-partitioned tables: on BigQuery a run replaces the hour
   partitions its rows fall in (insert_overwrite), so re-running an hour never duplicates. #}
{% macro hourly_config() -%}
  {{ return({
      'partition_by': {'field': 'ts', 'data_type': 'timestamp', 'granularity': 'hour'} if target.type == 'bigquery' else none,
      'incremental_strategy': 'insert_overwrite' if target.type == 'bigquery' else none,
  }) }}
{%- endmacro %}

{% macro hour_trunc(ts) -%}
  {%- if target.type == 'bigquery' -%} timestamp_trunc({{ ts }}, hour) {%- else -%} date_trunc('hour', {{ ts }}) {%- endif -%}
{%- endmacro %}

{# The open end of a current dim_users version, as a comparable timestamp (a plain
   range join is much faster than `valid_to is null or ...`). #}
{% macro far_future() -%}
  {%- if target.type == 'bigquery' -%} timestamp '9999-12-31 00:00:00+00' {%- else -%} timestamptz '9999-12-31 00:00:00+00' {%- endif -%}
{%- endmacro %}
