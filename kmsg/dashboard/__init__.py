"""The kmsg web dashboard (``pip install "kmsg[dashboard]"``): queues, jobs, dead letters, metrics.

``create_app(url, auth=DashboardAuth.from_env())`` builds the ASGI app; ``serve(...)`` runs it
with uvicorn (what ``kmsg dashboard`` calls). See ``docs/dashboard.md``.
"""

from kmsg.dashboard.app import create_app
from kmsg.dashboard.auth import DashboardAuth
from kmsg.dashboard.server import serve

__all__ = ["DashboardAuth", "create_app", "serve"]
