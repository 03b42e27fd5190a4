-- Fails when a location whose state code is in the seed did not get its state name
-- (the original's seed had a trailing space and never matched).
select l.*
from {{ ref('dim_location') }} l
join {{ ref('us_states') }} s on s.state_code = l.state_code
where l.state_name is null or l.state_name != s.state_name
