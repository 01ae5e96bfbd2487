DELETE FROM jobs WHERE queue = :queue AND id = :id
