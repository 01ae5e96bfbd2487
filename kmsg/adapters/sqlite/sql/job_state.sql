SELECT seq, state FROM jobs WHERE queue = :queue AND id = :id
