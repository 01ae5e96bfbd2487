UPDATE jobs SET cancel_requested = 1 WHERE seq = :seq
