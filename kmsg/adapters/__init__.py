"""Backends implementing :class:`kmsg.JobQueue`; each is imported lazily by ``kmsg.open_queue``."""
