"""``python -m benchmarks run|list|plot``: the benchmark suite's command line.

python -m benchmarks run                          # every system, every workload, 3 reps
python -m benchmarks run --quick                  # small sizes, 1 rep (a few minutes)
python -m benchmarks run --systems kmsg-redis,arq --workloads W2,W3
python -m benchmarks list
python -m benchmarks plot [results.json]          # docs/benchmarks.png from the latest run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks import environment, workloads
from benchmarks.harness import Row, bench_session, markdown_table, save_results
from benchmarks.raw import raw_rows
from benchmarks.systems import SYSTEMS

WORKLOADS = {
    "W1": workloads.w1,
    "W1b": workloads.w1b,
    "W2": workloads.w2,
    "W2io": workloads.w2io,
    "W2p": workloads.w2p,
    "W3": workloads.w3,
    "W4": workloads.w4,
    "W5": workloads.w5,
}
ALL_WORKLOADS = [*WORKLOADS, "raw"]


def _names(text: str, known: list[str], kind: str) -> list[str]:
    if text == "all":
        return known
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {kind}: {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def run(args: argparse.Namespace) -> None:
    """Run the chosen workloads for the chosen systems; print and save the table."""
    systems = _names(args.systems, list(SYSTEMS), "systems")
    chosen = _names(args.workloads, ALL_WORKLOADS, "workloads")
    sizes = workloads.Sizes.quick() if args.quick else workloads.Sizes()
    if args.reps:
        sizes = workloads.Sizes(**{**sizes.__dict__, "reps": args.reps})
    rows: list[Row] = []
    started = time.monotonic()
    with bench_session() as bench:
        for name in chosen:
            if name == "raw":
                print("raw limits ...", file=sys.stderr, flush=True)
                rows += raw_rows(bench, sizes.reps, sizes.w1_jobs)
                continue
            for system in systems:
                print(f"{name} {system} ...", file=sys.stderr, flush=True)
                for row in WORKLOADS[name](bench, system, sizes):
                    rows.append(row)
                    print(f"  {row.metric}: {row.cell()} {row.unit}", file=sys.stderr, flush=True)
        meta = environment.describe(bench, systems) | {
            "sizes": sizes.__dict__,
            "seconds": round(time.monotonic() - started, 1),
        }
    path = save_results(rows, meta)
    print(markdown_table(rows))
    print(f"\nsaved {path} ({meta['seconds']} s)")


def table(results: Path | None) -> None:
    """Print the markdown table and the run's metadata from a saved results file."""
    from benchmarks.plot import latest_results

    data = json.loads((results or latest_results()).read_text())
    fields = ("system", "workload", "metric", "unit", "values", "status")
    print(markdown_table([Row(**{key: row[key] for key in fields}) for row in data["rows"]]))
    print(json.dumps(data["meta"], indent=1))


def main() -> None:
    """Parse the command line and dispatch."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run benchmarks")
    run_parser.add_argument("--systems", default="all", help="comma-separated, or all")
    run_parser.add_argument("--workloads", default="all", help=f"of {','.join(ALL_WORKLOADS)}")
    run_parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition")
    run_parser.add_argument("--reps", type=int, default=0, help="repetitions (default 3)")
    sub.add_parser("list", help="list systems and workloads")
    plot_parser = sub.add_parser("plot", help="draw docs/benchmarks.png")
    plot_parser.add_argument("results", nargs="?", type=Path, help="default: the latest")
    table_parser = sub.add_parser("table", help="print a saved run's table")
    table_parser.add_argument("results", nargs="?", type=Path, help="default: the latest")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    elif args.command == "list":
        print("systems:  ", " ".join(SYSTEMS))
        print("workloads:", " ".join(ALL_WORKLOADS))
    elif args.command == "table":
        table(args.results)
    else:
        from benchmarks.plot import plot

        print(plot(args.results))


if __name__ == "__main__":
    main()
