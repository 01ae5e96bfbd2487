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
