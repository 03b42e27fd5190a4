-- The fact with every dimension joined: one row per listen (every key resolves to
-- exactly one dimension row, tested in schema.yml).
{{ config(materialized='view') }}
select f.stream_key, f.ts, f.session_id, f.item_in_session, f.level, f.duration,
       f.user_id, u.first_name, u.last_name, u.gender, u.registration,
       s.title as song, a.artist_name as artist,
       l.city, l.state_code, l.state_name, l.zip, l.lat, l.lon,
       d.date, d.hour, d.day_of_week, d.day_name, d.is_weekend,
       f.user_key, f.song_key, f.artist_key, f.location_key, f.datetime_key
from {{ ref('fact_streams') }} f
left join {{ ref('dim_users') }} u on u.user_key = f.user_key
left join {{ ref('dim_songs') }} s on s.song_key = f.song_key
left join {{ ref('dim_artists') }} a on a.artist_key = f.artist_key
left join {{ ref('dim_location') }} l on l.location_key = f.location_key
left join {{ ref('dim_datetime') }} d on d.datetime_key = f.datetime_key
