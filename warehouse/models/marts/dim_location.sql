-- One row per (city, state, zip, lat, lon) seen in listens, with the state's name
-- from the seed (codes trimmed and upper-cased on both sides). Plus 'unknown'.
select distinct
    {{ location_key('l.city', 'l.state', 'l.zip', 'l.lat', 'l.lon') }} as location_key,
    l.city,
    upper(trim(l.state)) as state_code,
    st.state_name,
    l.zip, l.lat, l.lon
from {{ ref('listen_events') }} l
left join {{ ref('us_states') }} st on upper(trim(st.state_code)) = upper(trim(l.state))
where not (l.city is null and l.state is null and l.zip is null and l.lat is null and l.lon is null)
union all
select 'unknown', null, null, null, null, null, null
