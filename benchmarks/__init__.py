"""kmsg's benchmark suite: kmsg's two backends side by side with peer Python job queues.

Run ``python -m benchmarks run`` (see ``benchmarks/README.md`` for the method and the figures).
"""
