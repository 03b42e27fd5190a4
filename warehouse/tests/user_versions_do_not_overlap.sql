-- Fails (returns rows) when a user's level versions overlap or more than one is current.
select a.user_id, a.user_key, b.user_key as other
from {{ ref('dim_users') }} a
join {{ ref('dim_users') }} b
  on a.user_id = b.user_id and a.user_key != b.user_key
 and a.valid_from < coalesce(b.valid_to, timestamp '9999-12-31')
 and b.valid_from < coalesce(a.valid_to, timestamp '9999-12-31')
 and a.valid_from != coalesce(a.valid_to, timestamp '9999-12-31')
 and b.valid_from != coalesce(b.valid_to, timestamp '9999-12-31')
