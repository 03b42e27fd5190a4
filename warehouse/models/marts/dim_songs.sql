-- One row per (artist, title): a listen matches exactly one song (the original
-- matched titles against a catalogue with repeats and fanned out). Plus 'unknown'.
select distinct
    {{ song_key('artist', 'song') }} as song_key,
    song as title,
    artist as artist_name,
    {{ artist_key('artist') }} as artist_key
from {{ ref('listen_events') }}
where song is not null
union all
select 'unknown', null, null, 'unknown'
