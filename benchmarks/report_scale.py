"""Report run at scale on PostgreSQL (issue 3 "Speed", issue 17 acceptance): every figure in one invocation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_100k \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \\
    .venv/bin/python benchmarks/report_scale.py --patients 100000 --strata default --strata modality \\
        --rss-sizes postgres://postgres@127.0.0.1:5432/report_10k,postgres://postgres@127.0.0.1:5432/report_30k,\\
postgres://postgres@127.0.0.1:5432/registry_100k

Seeds the registry to N patients (or reuses it). Then, for each ``--strata`` set (``default``: all five
variables; or a comma-separated list such as ``modality``; repeatable), it prints:

1. extraction (``snapshot_extract``: COPY with integer patient keys into DataFrames) and fingerprint time;
2. a raw ``COPY (SELECT …) TO STDOUT`` of the frame queries as the ORM writes them (study_id text joined in) —
   the ratio's data baseline — and of the integer-keyed queries the extraction runs;
3. the bare statistical fits: every ``analytics.stats`` call the report's fit jobs make, serial, in this
   process, on the prepared analysis sets (no result assembly, no JSON). Also shown split into the issue-3
   fits (the list the earlier figures used) and the analyses issue 16 added since;
4. the full run (all stages, every artifact) through a Celery worker started here on a private queue (solo pool;
   the fits in it run serially, as one worker alone computes every fan-out unit) — or in-process with
   ``--in-process`` or without a broker (it says which);
5. the ratio full / (COPY + fits) in wall-clock seconds and in **CPU seconds** (the worker + its PostgreSQL
   backends against this process + its backend), against the goal ≤ 1.5 — on a shared machine only the CPU
   ratio means anything;
6. the worker's idle and peak RSS (benchmarks/report_worker.py).

Then, with a Redis broker, the compute stage with 1 and 2 workers and the 2-worker speed-up, goal ≥ 1.6
(``--workers``, ``--fanout-repeat``; benchmarks/report_fanout.py; ``--workers ''`` skips it); and with
``--rss-sizes URL,URL,URL`` the worker's full report on each database (e.g. 10k, 30k, 100k patients, seeded
beforehand with ``seed_registry --sites 10 --seed 1``; a size equal to this run's database reuses the first
strata set's measurement), its peak RSS per 1,000 patients above the idle baseline at each size and the growth
between sizes, goal ≤ 2 MB per 1,000 patients. It ends with every acceptance figure against its goal, the load
average of each, and how long the whole invocation took.

Duration: the command above is 1 + 1 (strata) + 6 (fan-out: 1 and 2 workers, three rounds) + 2 (RSS) full
100k-patient runs, plus one serial compute stage and four in-process passes of the bare fits; with ``--ratio-repeat 3``
(four more full runs and eight more passes) it took 14 minutes on the quiet 2-core machine (README, acceptance run).
No input is needed: run it and read the summary at the end. ``--ratio-repeat 3`` measures steps 2–4 three times
per strata set and reports the round with the median CPU ratio (this machine's speed drifts: one round's ratio moves
by about ±0.1); it adds two full runs per strata set. Every round measures COPY and the bare fits before and after its
full run and divides by their mean, so a drift during the round weighs on both sides of the ratio alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import pgbench_db  # noqa: E402
from benchmarks.report_baseline import Baseline, baseline, copy_keyed_time  # noqa: E402
from benchmarks.report_worker import WorkerRun, run_in_process, run_on_worker  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
RATIO_GOAL = 1.5
RSS_GOAL_MB = 2048
RSS_GROWTH_GOAL_MB = 2.0  # per 1,000 patients
SPEEDUP_GOAL = 1.6


@dataclass
class Summary:
    """The acceptance figures as they are measured: (figure, value, goal, verdict, load average)."""

    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, value: float | None, goal: str, ok: bool | None, fmt: str = "{:.2f}") -> None:
        verdict = "n/a" if ok is None else "OK" if ok else "NOT MET"
        self.rows.append((figure, "n/a" if value is None else fmt.format(value), goal, verdict, load()))

    def print(self, started: float) -> None:
        print("\n== acceptance figures (issue 17) ==")
        widths = [max(len(r[i]) for r in [("figure", "value", "goal", "verdict", "load avg"), *self.rows]) for i in range(5)]
        for row in [("figure", "value", "goal", "verdict", "load avg"), *self.rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        print(f"whole invocation: {(time.monotonic() - started) / 60:.1f} min wall; load average now {load()}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def section(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title} ==")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}", flush=True)


def ensure_patients(n: int) -> float:
    from django.core.management import call_command

    from trials.models import Patient

    started = time.perf_counter()
    if Patient.objects.count() < n:
        call_command("seed_registry", patients=n, sites=10, seed=1, anchor_date=None, no_progress=False)
    return time.perf_counter() - started


def timed(func, *args, **kwargs):
    started = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - started


def full_run(parameters: dict, *, in_process: bool) -> WorkerRun:
    from django.conf import settings

    return run_in_process(parameters) if in_process or not settings.CELERY_BROKER_URL else run_on_worker(parameters)


def strata_parameters(strata: str) -> dict:
    return {} if strata == "default" else {"strata": strata}


def ratio_section(strata: str, *, in_process: bool, summary: Summary, repeat: int = 1) -> WorkerRun:
    """Steps 1–6 of the module docstring for one strata set; prints them and adds the ratios to ``summary``.

    Each round measures the denominator (COPY and bare fits) just before and just after the full run and takes the
    mean of the two (an A-B-A design: this machine's speed drifts by ±15% over minutes, and a denominator measured
    only before the run put that drift into the ratio, ±0.1 a round). ``repeat`` > 1: that many rounds, one after
    the other, each giving its own ratio; the round with the median CPU ratio is the one reported (each round's is
    printed)."""
    from analytics.dataset import snapshot_extract, snapshot_fingerprint
    from analytics.derive import analysis_sets_build
    from analytics.parameters import parameters_parse
    from trials.models import Patient

    patients = Patient.objects.count()
    params = parameters_parse(strata_parameters(strata))
    snapshot, extract_s = timed(snapshot_extract)
    _, fingerprint_s = timed(snapshot_fingerprint, snapshot)
    copy_keyed_s = copy_keyed_time()
    sets, derive_s = timed(analysis_sets_build, snapshot, params)
    del snapshot
    rounds: list[tuple[float, Baseline, WorkerRun, str]] = []  # (CPU ratio, mean denominator, run, the two CPUs)
    for _ in range(max(repeat, 1)):
        before = baseline(sets, params)
        run = full_run(strata_parameters(strata), in_process=in_process)
        after = baseline(sets, params)
        mean = before.mean(after)
        rounds.append((run.cpu / mean.cpu, mean, run, f"{before.cpu:.2f} before, {after.cpu:.2f} after"))
    del sets
    each = ", ".join(f"{r[0]:.2f}" for r in rounds)
    cpu_ratio, base, run, around = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    copy_s, copy_bytes, copy_cpu, fits, fits_s, fits_cpu = (
        base.copy_s, base.copy_bytes, base.copy_cpu, base.fits, base.fits_s, base.fits_cpu
    )  # fmt: skip
    ratio = run.seconds / (copy_s + fits_s)
    issue3_cpu_ratio = run.cpu / (copy_cpu + fits["issue3"][1])
    rows = [
        ("patients in registry", f"{patients:,}"),
        ("strata", ", ".join(params.strata)),
        ("extraction (COPY → DataFrames)", f"{extract_s:.2f} s, fingerprint {fingerprint_s:.2f} s"),
        (
            "raw COPY (SELECT …) TO STDOUT",
            f"{copy_s:.2f} s, {copy_cpu:.2f} s CPU ({copy_bytes / 1e6:.1f} MB); integer-keyed {copy_keyed_s:.2f} s",
        ),
        ("derive (adtte/adresp/pain)", f"{derive_s:.2f} s"),
        ("bare statistical fits, serial", f"{fits_s:.2f} s, {fits_cpu:.2f} s CPU"),
        ("  COPY + fits CPU around the full run (mean used)", around),
        ("  of which issue-3 fits / added since", "{:.2f} / {:.2f} s CPU".format(fits["issue3"][1], fits["later"][1])),
        ("full run", f"{run.seconds:.2f} s, {run.cpu:.2f} s CPU — {run.mode}; stages {run.timings}"),
        ("ratio full / (COPY + fits), wall", f"{ratio:.2f} (goal ≤ {RATIO_GOAL}; meaningless under load)"),
        (
            "ratio full / (COPY + fits), CPU",
            f"{cpu_ratio:.2f} (goal ≤ {RATIO_GOAL}) {'OK' if cpu_ratio <= RATIO_GOAL else 'NOT MET'}",
        ),
        ("  with the issue-3 fits only", f"{issue3_cpu_ratio:.2f}"),
        *([("CPU ratio of each round (median reported)", each)] if len(rounds) > 1 else []),
        ("load average (1, 5, 15 min)", load()),
    ]
    if run.peak_kb is not None and run.idle_kb is not None:
        rows.append(
            (
                "worker RSS: idle / peak",
                f"{run.idle_kb / 1024:.0f} / {run.peak_kb / 1024:.0f} MB (goal ≤ {RSS_GOAL_MB} MB); "
                f"(peak − idle) {(run.peak_kb - run.idle_kb) / 1024 / (patients / 1000):.2f} MB per 1,000 patients",
            )
        )
    section(f"report at {patients:,} patients, strata: {strata}", rows)
    summary.add(f"ratio (CPU), strata {strata}", cpu_ratio, f"≤ {RATIO_GOAL}", cpu_ratio <= RATIO_GOAL)
    summary.add(f"ratio (wall), strata {strata}", ratio, f"≤ {RATIO_GOAL}", None)
    if run.peak_kb is not None:
        summary.add(
            f"worker peak RSS, strata {strata}",
            run.peak_kb / 1024,
            f"≤ {RSS_GOAL_MB} MB",
            run.peak_kb / 1024 <= RSS_GOAL_MB,
            "{:.0f} MB",
        )
    return run


def rss_measure() -> dict:
    """This database's patient count and one measured worker run (the ``--rss-only`` child's JSON line)."""
    from trials.models import Patient

    run = run_on_worker({})
    return {
        "patients": Patient.objects.count(),
        "seconds": run.seconds,
        "cpu": run.cpu,
        "timings": run.timings,
        "peak_kb": run.peak_kb,
        "idle_kb": run.idle_kb,
        "load": load(),
    }


def rss_sizes(urls: list[str], reuse: dict | None, summary: Summary) -> None:
    """The worker's full default report on each database (a child process per size), then RSS per 1,000 patients."""
    rows = []
    for url in urls:
        if reuse is not None and url == os.environ.get("DATABASE_URL"):
            rows.append(reuse)
            continue
        argv = [sys.executable, __file__, "--rss-only"]
        out = subprocess.run(argv, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, check=False)  # noqa: S603
        if out.returncode:
            sys.exit(f"{url}: {out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows.sort(key=lambda r: r["patients"])
    lines = [
        (
            f"{'patients':>9}",
            f"{'full s':>7}  {'idle MB':>8}  {'peak MB':>8}  {'(peak−idle) MB/1k':>18}  growth since previous size, MB/1k",
        )
    ]
    for previous, row in zip([None, *rows], rows, strict=False):
        per_k = (row["peak_kb"] - row["idle_kb"]) / 1024 / (row["patients"] / 1000)
        growth = ""
        if previous:
            slope = (row["peak_kb"] - previous["peak_kb"]) / 1024 / ((row["patients"] - previous["patients"]) / 1000)
            growth = f"{slope:.2f} (goal ≤ {RSS_GROWTH_GOAL_MB}) {'OK' if slope <= RSS_GROWTH_GOAL_MB else 'NOT MET'}"
            label = f"worker RSS growth {previous['patients'] // 1000}k → {row['patients'] // 1000}k, MB per 1,000 patients"
            summary.add(label, slope, f"≤ {RSS_GROWTH_GOAL_MB}", slope <= RSS_GROWTH_GOAL_MB)
        lines.append(
            (
                f"{row['patients']:>9}",
                f"{row['seconds']:>7.1f}  {row['idle_kb'] / 1024:>8.0f}  {row['peak_kb'] / 1024:>8.0f}  {per_k:>18.2f}  {growth}",
            )
        )
    if len(rows) > 2:
        first, last = rows[0], rows[-1]
        slope = (last["peak_kb"] - first["peak_kb"]) / 1024 / ((last["patients"] - first["patients"]) / 1000)
        summary.add(
            f"worker RSS growth {first['patients'] // 1000}k → {last['patients'] // 1000}k",
            slope,
            f"≤ {RSS_GROWTH_GOAL_MB}",
            slope <= RSS_GROWTH_GOAL_MB,
        )
    lines.append(("load average", load()))
    section("worker peak RSS at each size (default strata)", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--in-process", action="store_true", help="Run the full report in this process, not on a worker.")
    parser.add_argument("--workers", default="1,2", help="Worker counts of the fan-out measurement ('' skips it).")
    parser.add_argument(
        "--fanout-repeat", type=int, default=3, help="Rounds of the fan-out measurement (each count once a round; median)."
    )
    parser.add_argument(
        "--ratio-repeat", type=int, default=1, help="Rounds of COPY, bare fits and full run per strata set (median reported)."
    )
    parser.add_argument(
        "--strata", action="append", default=None, help="'default' (all five) or comma-separated variables; repeatable."
    )
    parser.add_argument("--rss-sizes", default=None, help="Comma-separated DATABASE_URLs of seeded registries (see above).")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    started = time.monotonic()
    pgbench_db.setup_django("postgres://postgres@127.0.0.1:5432/registry_bench")
    if args.rss_only:
        print(json.dumps(rss_measure()))
        return
    pgbench_db.ensure_database("The benchmark runs on PostgreSQL")
    from django.conf import settings

    seed_s = ensure_patients(args.patients)
    print(f"registry ready ({seed_s:.1f} s); load average {load()}", flush=True)
    summary, first_run = Summary(), None
    for index, strata in enumerate(args.strata or ["default"]):
        run = ratio_section(strata, in_process=args.in_process, summary=summary, repeat=args.ratio_repeat)
        first_run = first_run or (run if index == 0 and strata == "default" else None)
    if args.workers and not args.in_process and (settings.CELERY_BROKER_URL or "").startswith("redis"):
        from benchmarks.report_fanout import fanout_lines

        rows, speedup = fanout_lines([int(w) for w in args.workers.split(",")], repeat=args.fanout_repeat)
        section("fit fan-out: compute stage with 1 and 2 workers (default strata)", rows)
        summary.add(
            "2-worker compute speed-up", speedup, f"≥ {SPEEDUP_GOAL}", None if speedup is None else speedup >= SPEEDUP_GOAL
        )
    if args.rss_sizes:
        reuse = None
        if first_run is not None and first_run.peak_kb is not None:
            from trials.models import Patient

            reuse = {
                "patients": Patient.objects.count(),
                "seconds": first_run.seconds,
                "peak_kb": first_run.peak_kb,
                "idle_kb": first_run.idle_kb,
            }
        rss_sizes(args.rss_sizes.split(","), reuse, summary)
    summary.print(started)


if __name__ == "__main__":
    main()
