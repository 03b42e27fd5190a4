-- One row per artist name (md5 of the name: two names never share a key), plus 'unknown'.
select distinct {{ artist_key('artist') }} as artist_key, artist as artist_name
from {{ ref('listen_events') }}
where artist is not null
union all
select 'unknown', null
