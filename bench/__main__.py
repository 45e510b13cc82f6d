"""`uv run python -m bench [--quick] [--only NAME ...]`: run every benchmark against one real Kafka +
PostgreSQL, write bench/results/<name>.json, bench/results/summary.md and PNG plots.

A benchmark is a module bench/<name>.py exposing `run(bootstrap, database_url, quick) -> dict` with
keys name, params, metrics, baseline, ratio (and optionally `samples` for plots: `latency_ms`
{label: [ms, ...]}, `throughput` {label: [[second, count], ...]}, `timeline` [[second, label], ...]).
Each runs in its own process (a crash or leak in one cannot spoil the next) with its own fresh
database; one that fails is recorded in the summary and makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
NOT_BENCHMARKS = {"__main__", "run", "plots", "report", "proc"}
# kafka_baseline first: the others compare against it (e2e_grant reads its result).
ORDER = ["kafka_baseline", "e2e_grant"]


def discover() -> list[str]:
    names = [
        m.name
        for m in pkgutil.iter_modules([str(HERE)])
        if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS
    ]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def _child(name: str, bootstrap: str, database_url: str, quick: bool, out: Path) -> int:
    """Run one benchmark in this (child) process and write its result (or error) to `out`."""
    sys.path.insert(0, str(ROOT))
    t0 = time.monotonic()
    try:
        module = importlib.import_module(f"bench.{name}")
        result: dict[str, Any] = module.run(bootstrap, database_url, quick)
        if not isinstance(result, dict) or "metrics" not in result:
            raise TypeError(f"bench.{name}.run returned {type(result).__name__} without 'metrics'")
        result.setdefault("name", name)
        result["wall_seconds"] = round(time.monotonic() - t0, 1)
        out.write_text(json.dumps(result, default=str))
        return 0
    except BaseException as exc:
        out.write_text(
            json.dumps(
                {
                    "name": name,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-4000:],
                    "wall_seconds": round(time.monotonic() - t0, 1),
                }
            )
        )
        return 1
    finally:
        _leave_broker_as_found(bootstrap)


def _leave_broker_as_found(bootstrap: str) -> None:
    """On a broker the bench did not start (`LATCHKEY_TEST_INFRA=external`), delete the topics this
    benchmark made: a development broker would otherwise keep every run's partitions. (A broker
    started for this run goes away with it.)"""
    from latchkey.runtime.testing import default_mode, leave_broker_as_found

    if default_mode() == "external":
        leave_broker_as_found(bootstrap)


def _fresh_database(infra: Any, name: str) -> tuple[str, str]:
    from latchkey.runtime.testing import create_database, safe_database_name, sqlalchemy_url

    db = safe_database_name(f"bench_{name}")
    return db, sqlalchemy_url(create_database(infra.admin_database_url, db))


def _run_one(name: str, infra: Any, quick: bool, timeout: float) -> dict[str, Any]:
    from latchkey.runtime.testing import drop_database

    db, url = _fresh_database(infra, name)
    out = RESULTS / f".{name}.tmp.json"
    out.unlink(missing_ok=True)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench",
                "--child",
                name,
                "--bootstrap",
                infra.kafka_bootstrap,
                "--database-url",
                url,
                *(["--quick"] if quick else []),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        if out.exists():
            result: dict[str, Any] = json.loads(out.read_text())
        else:
            result = {"name": name, "error": f"benchmark process exited {proc.returncode} without a result"}
    except subprocess.TimeoutExpired:
        result = {"name": name, "error": f"timed out after {timeout:.0f}s"}
    finally:
        out.unlink(missing_ok=True)
        try:
            drop_database(infra.admin_database_url, db)
        except Exception as exc:
            print(f"bench: could not drop {db}: {exc}", file=sys.stderr)
    return result


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_summary(results: list[dict[str, Any]], quick: bool, infra_mode: str) -> Path:
    lines = [
        "# Benchmark results",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {'quick' if quick else 'full'} mode, "
        f"infra `{infra_mode}`, {os.cpu_count()} CPUs shared with everything else on the machine.",
        "",
        "| benchmark | status | metrics | baseline | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r and "metrics" not in r:
            lines.append(f"| {r['name']} | **FAILED** | {str(r['error'])[:300].replace('|', '/')} | | |")
            continue
        metrics = "<br>".join(f"{k}: {_fmt(v)}" for k, v in r.get("metrics", {}).items())
        baseline = r.get("baseline")
        if isinstance(baseline, dict):
            baseline = "<br>".join(f"{k}: {_fmt(v)}" for k, v in baseline.items())
        ratio = r.get("ratio")
        if isinstance(ratio, dict):
            ratio = "<br>".join(f"{k}: {_fmt(v)}" for k, v in ratio.items())
        status = f"ok ({r.get('wall_seconds', '?')} s)"
        if "error" in r:
            status = f"**FAILED**: {str(r['error'])[:200].replace('|', '/')}"
        lines.append(
            f"| {r['name']} | {status} | {metrics} | "
            f"{_fmt(baseline) if baseline is not None else ''} | {_fmt(ratio) if ratio is not None else ''} |"
        )
    lines += ["", "Params and full numbers: `bench/results/<name>.json`. Plots: `bench/results/*.png`.", ""]
    path = RESULTS / "summary.md"
    path.write_text("\n".join(lines))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version of each (< 3 min in total)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        return _child(args.child, args.bootstrap, args.database_url, args.quick, args.out)

    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; known: {names}")
        names = [n for n in names if n in args.only]
    timeout = args.timeout or (150.0 if args.quick else 900.0)

    from bench.plots import plot_result
    from latchkey.runtime.testing import start_infra

    RESULTS.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"bench: starting infrastructure ({os.environ.get('LATCHKEY_TEST_INFRA') or 'default'} mode)")
    results: list[dict[str, Any]] = []
    with start_infra() as handle:
        infra = handle.infra
        print(f"bench: Kafka {infra.kafka_bootstrap}, PostgreSQL ready in {time.monotonic() - t0:.0f}s")
        for name in names:
            started = time.monotonic()
            print(f"bench: {name} ...", flush=True)
            result = _run_one(name, infra, args.quick, timeout)
            samples = result.pop("samples", None)
            status = "FAILED: " + str(result["error"]) if "error" in result else "ok"
            print(f"bench: {name} {status} ({time.monotonic() - started:.0f}s)", flush=True)
            if "error" not in result or "metrics" in result:  # a failed run's numbers are kept too
                result["quick"] = args.quick
                (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
                if samples:
                    try:
                        for png in plot_result(name, samples, RESULTS):
                            print(f"bench:   plot {png.relative_to(ROOT)}")
                    except Exception as exc:
                        print(f"bench:   plot failed: {exc}", file=sys.stderr)
            if "traceback" in result:
                print(result["traceback"], file=sys.stderr)
            results.append(result)
        summary = write_summary(results, args.quick, infra.mode)
    print(summary.read_text())
    failed = [r["name"] for r in results if "error" in r]
    print(
        f"bench: {len(results) - len(failed)} ok, {len(failed)} failed {failed or ''} "
        f"in {time.monotonic() - t0:.0f}s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
