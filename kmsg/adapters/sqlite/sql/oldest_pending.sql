SELECT min(created_at) FROM jobs WHERE queue = :queue AND state = 'pending'
