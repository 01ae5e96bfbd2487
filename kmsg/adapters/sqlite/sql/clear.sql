-- One bounded step of clear: up to :step jobs of the queue that existed when the clear began
-- (seq <= :last_seq), found on the (queue, id) index, whatever their state.
DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs
    WHERE queue = :queue AND seq <= :last_seq
    LIMIT :step
)
