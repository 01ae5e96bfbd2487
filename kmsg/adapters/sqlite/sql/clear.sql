DELETE FROM jobs WHERE queue = :queue
