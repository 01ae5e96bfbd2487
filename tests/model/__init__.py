"""Model-based tests: an in-memory reference model of the JobQueue contract, run side by side
with every backend."""
