"""Without the ``otel`` extra, tracing is a no-op that costs nothing, and asking for it says
which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_without_opentelemetry_the_hooks_do_nothing_and_tracing_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import contextlib, sys
        sys.modules["opentelemetry"] = None  # as if the extra were not installed
        import kmsg.tracing as tracing
        from kmsg import MissingDependencyError
        assert tracing.AVAILABLE is False
        assert isinstance(tracing.handler_span(None), contextlib.nullcontext)
        tracing.mark_failed(None, ValueError("x"))
        try:
            tracing.Tracing()
        except MissingDependencyError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "kmsg[otel]"' in done.stdout


def test_without_an_sdk_provider_the_worker_makes_no_span() -> None:
    script = textwrap.dedent(
        """
        from kmsg.models import Backoff, Job, JobState
        from kmsg import tracing
        job = Job(id="j", queue="q", task="T", payload=b"{}", state=JobState.PROCESSING,
                  priority=0, run_at=0.0, created_at=0.0, attempts=1, max_attempts=3,
                  backoff=Backoff(), lease=30.0)
        assert tracing.AVAILABLE
        assert tracing.handler_span(job) is tracing._NO_SPAN
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
        assert tracing.handler_span(job) is not tracing._NO_SPAN
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
