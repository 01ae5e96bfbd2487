SELECT state, count(*) FROM jobs WHERE queue = :queue GROUP BY state
