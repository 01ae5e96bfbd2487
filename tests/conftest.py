"""Shared fixtures and hooks: every async test runs on asyncio and on trio.

The suites are split by marker (see ``addopts`` in pyproject.toml and the README):

* ``reliability``: everything under ``tests/reliability`` (fault scenarios: killed workers,
  restarted servers, a lossy network), marked here by path;
* ``model``: everything under ``tests/model`` (random operation sequences against a reference);
* ``cluster``: every test that needs the local 3-master Redis Cluster, including each test
  parametrized with the ``redis-cluster`` backend.

The default run leaves those three out; ``.ci/run`` runs them as a second step.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

PYCACHE_SWITCH = "KMSG_TEST_PYCACHE"


def _cache_bytecode() -> None:
    """Under ``PYTHONDONTWRITEBYTECODE``, keep compiled test modules in a cache outside the
    checkout instead of nowhere.

    Without it every pytest process (each xdist worker) rewrites the asserts of every test
    module afresh: about 6 s of CPU each, a tenth of the default run on two cores. The cache
    goes to the temporary folder (``sys.pycache_prefix``), so the checkout stays as clean as the
    variable meant, and subprocesses are left alone. ``KMSG_TEST_PYCACHE=off`` turns this off
    (the mutation check does: it rewrites sources within a second).
    """
    if not sys.dont_write_bytecode or os.environ.get(PYCACHE_SWITCH) == "off":
        return
    sys.pycache_prefix = str(Path(tempfile.gettempdir()) / f"kmsg-pytest-pycache-{os.getuid()}")
    sys.dont_write_bytecode = False


_cache_bytecode()

pytest_plugins = ["tests.queue_fixtures"]

HERE = Path(__file__).parent
MARKED_FOLDERS = {"reliability": HERE / "reliability", "model": HERE / "model"}
CLUSTER_BACKENDS = frozenset({"redis-cluster"})


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend a test runs under; tests marked ``anyio`` run once per backend."""
    backend: str = request.param
    return backend


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder (``reliability``, ``model``) and by backend (``cluster``)."""
    for item in items:
        for marker, folder in MARKED_FOLDERS.items():
            if folder in item.path.parents:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") in CLUSTER_BACKENDS:
            item.add_marker("cluster")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def skip_summary(reports: list[pytest.TestReport]) -> str:
    """``N skipped: <count> <reason>; ...``, the most common reason first (one line)."""
    reasons = Counter(_skip_reason(report) for report in reports)
    parts = [f"{count} {reason}" for reason, count in reasons.most_common()]
    return f"{len(reports)} skipped: " + "; ".join(parts)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line for every skip of the run, counted by reason (instead of a line per test)."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report, pytest.TestReport)
    ]
    if skipped:
        terminalreporter.write_line(skip_summary(skipped))
