SELECT id FROM jobs WHERE queue = :queue AND id = :id
