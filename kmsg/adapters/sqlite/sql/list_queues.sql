SELECT name FROM queues ORDER BY name
