UPDATE queues SET tokens = :tokens, refilled_at = :now WHERE name = :queue
