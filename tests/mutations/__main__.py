"""``python -m tests.mutations``: see the package docstring."""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.mutations.catalog import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("kmsg", "tests", "pyproject.toml", "README.md")
RUN_TIMEOUT = 600.0
PYTEST_ARGS = ("-x", "-q", "-n", "0", "-m", "", "-p", "no:cacheprovider", "--no-header")


@dataclass(frozen=True)
class Outcome:
    """What one pytest run of a selection did: ``caught`` (a test failed), ``passed``, or
    ``error`` (pytest itself failed: collection error, no tests, timeout)."""

    verdict: str
    seconds: float
    tail: str


def _copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, target / name)


def _environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["KMSG_TEST_PYCACHE"] = "off"  # a source rewritten within a second must be recompiled
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _check_imports_copy(copy: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import kmsg; print(kmsg.__file__)"],
        cwd=copy,
        env=_environment(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"the copy imports kmsg from {out}, not from {copy}")


def run_selection(copy: Path, tests: Sequence[str]) -> Outcome:
    """Run pytest on ``tests`` in ``copy``."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests],
            cwd=copy,
            env=_environment(copy),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return Outcome("error", time.monotonic() - started, f"timed out after {RUN_TIMEOUT} s")
    seconds = time.monotonic() - started
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    verdict = {0: "passed", 1: "caught"}.get(done.returncode, "error")
    return Outcome(verdict, seconds, f"exit {done.returncode}\n{tail}")


@contextmanager
def planted(copy: Path, mutation: Mutation) -> Iterator[None]:
    """``mutation`` applied to ``copy`` for the block, then undone."""
    path = copy / mutation.path
    original = path.read_text()
    path.write_text(original.replace(mutation.search, mutation.replace, 1))
    try:
        yield
    finally:
        path.write_text(original)


def stale(mutations: Sequence[Mutation]) -> list[str]:
    """Mutations whose search text does not occur exactly once in the checkout."""
    problems = []
    for mutation in mutations:
        count = (ROOT / mutation.path).read_text().count(mutation.search)
        if count != 1:
            problems.append(f"{mutation.name}: search text found {count} times in {mutation.path}")
    return problems


class Copies:
    """A pool of checkout copies, one per parallel job."""

    def __init__(self, base: Path, count: int) -> None:
        self._free: queue.Queue[Path] = queue.Queue()
        for index in range(count):
            copy = base / f"copy{index}"
            copy.mkdir()
            _copy_tree(copy)
            _check_imports_copy(copy)
            self._free.put(copy)

    def run(self, work: Callable[[Path], Outcome]) -> Outcome:
        copy = self._free.get()
        try:
            return work(copy)
        finally:
            self._free.put(copy)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.mutations", description=__doc__)
    parser.add_argument("--ci", action="store_true", help="only the mutations marked for CI")
    parser.add_argument("--only", action="append", default=[], help="run this mutation (repeat)")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="parallel runs (default 2)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Plant each selected bug in turn; 0 when every one was caught."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    chosen = [
        m for m in MUTATIONS if (not args.ci or m.ci) and (not args.only or m.name in args.only)
    ]
    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        print(f"unknown mutations: {sorted(unknown)}", file=sys.stderr)
        return 2
    if args.list:
        for mutation in chosen:
            print(f"{mutation.name:36} {mutation.what}")
        return 0
    problems = stale(chosen)
    if problems:
        print("the catalog no longer matches kmsg:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kmsg-mutations-") as base:
        copies = Copies(Path(base), max(1, args.jobs))
        selections = sorted({m.tests for m in chosen})
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            baselines = dict(
                zip(
                    selections,
                    pool.map(
                        lambda tests: copies.run(lambda copy: run_selection(copy, tests)),
                        selections,
                    ),
                    strict=True,
                )
            )
            broken = {tests: o for tests, o in baselines.items() if o.verdict != "passed"}
            for tests, outcome in broken.items():
                print(f"baseline FAILS without any bug: {' '.join(tests)}\n{outcome.tail}\n")
            if broken:
                return 1

            def plant_and_run(mutation: Mutation) -> Outcome:
                def work(copy: Path) -> Outcome:
                    with planted(copy, mutation):
                        return run_selection(copy, mutation.tests)

                return copies.run(work)

            outcomes = list(pool.map(plant_and_run, chosen))
    caught = 0
    for mutation, outcome in zip(chosen, outcomes, strict=True):
        mark = {"caught": "caught  ", "passed": "SURVIVED", "error": "ERROR   "}[outcome.verdict]
        print(f"{mark} {mutation.name:36} {outcome.seconds:5.1f}s  {mutation.what}")
        if outcome.verdict == "caught":
            caught += 1
        else:
            print("    " + outcome.tail.replace("\n", "\n    "))
    elapsed = time.monotonic() - started
    print(f"{caught}/{len(chosen)} planted bugs caught ({elapsed:.0f} s)")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    raise SystemExit(main())
