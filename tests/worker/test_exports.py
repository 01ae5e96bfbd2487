"""``kmsg.worker`` re-exports the public names of its modules, in a sorted ``__all__``."""

from __future__ import annotations

import importlib

import kmsg.worker

MODULES = ("context", "handler_errors", "events", "retry", "runtime")
INTERNAL = {"emit"}  # used by the runtime only


def test_all_is_sorted_and_resolves() -> None:
    assert kmsg.worker.__all__ == sorted(kmsg.worker.__all__)
    for name in kmsg.worker.__all__:
        assert getattr(kmsg.worker, name) is not None


def test_every_public_name_of_the_user_facing_modules_is_exported() -> None:
    for module_name in MODULES:
        module = importlib.import_module(f"kmsg.worker.{module_name}")
        missing = set(module.__all__) - INTERNAL - set(kmsg.worker.__all__)
        assert not missing, f"kmsg.worker.{module_name} exports {missing} not re-exported"


def test_the_agreed_api_is_there() -> None:
    agreed = {
        "Worker",
        "Retry",
        "NonRetryable",
        "JobContext",
        "current_job",
        "WorkerEvent",
        "EventKind",
        "RetryPolicy",
    }
    assert agreed <= set(kmsg.worker.__all__)
