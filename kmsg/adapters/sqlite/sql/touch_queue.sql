INSERT OR IGNORE INTO queues (name) VALUES (:queue)
