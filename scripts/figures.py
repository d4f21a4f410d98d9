"""``make figures``: runs the README's benchmarks and rewrites the README's figures from their results.

The README's figures are never typed by hand. Each benchmark below runs in a subprocess with
``--json``; its results, with the machine they were measured on (cores, load average sampled during
the run, date), are kept in ``bench/figures/{name}.json``, and the README's block between

    <!-- figures:{name} -->
    <!-- /figures:{name} -->

is rewritten from that file (the benchmark's ``figures()`` lines under one line about the machine).
Nothing outside the marked blocks changes, and the same results always give the same block, which
tests/bench/test_figures.py checks against the committed README.

    python -m scripts.figures                     # run every benchmark (about 15 minutes), rewrite
    python -m scripts.figures --only soak         # run one, rewrite every block from the kept results
    python -m scripts.figures --render            # run nothing, rewrite every block from the kept results
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, JsonValue

from bench.deployment_writes import WritesResult
from bench.eval_samples import SamplesResult
from bench.rollout_scale import ScaleResult
from bench.rollout_stage import StageResult
from bench.soak import SoakResult

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "figures"
LOAD_SAMPLE_SECONDS = 5.0


class Figures(Protocol):
    def figures(self) -> list[str]: ...


@dataclass(frozen=True)
class Benchmark:
    """A README block: its name, the benchmark's module and arguments, and how its results load."""

    name: str
    command: tuple[str, ...]
    load: Callable[[JsonValue], Figures]


BENCHMARKS = (
    Benchmark("rollout_stage", ("bench.rollout_stage",), StageResult.model_validate),
    Benchmark("rollout_scale", ("bench.rollout_scale",), ScaleResult.model_validate),
    Benchmark("soak", ("bench.soak", "--weeks", "52"), SoakResult.model_validate),
    Benchmark("eval_samples", ("bench.eval_samples",), SamplesResult.model_validate),
    Benchmark("deployment_writes", ("bench.deployment_writes",), WritesResult.model_validate),
)


class Machine(BaseModel):
    """Where and when a benchmark ran: its cores and the 1-minute load average sampled while it ran."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: str
    cores: int
    load_low: float
    load_high: float

    def line(self) -> str:
        return (
            f"Measured {self.date} on {self.cores} cores, load average {self.load_low:.1f}-"
            f"{self.load_high:.1f} (1 minute, sampled every {LOAD_SAMPLE_SECONDS:.0f} s) during the run."
        )


class Kept(BaseModel):
    """``bench/figures/{name}.json``: the machine and the benchmark's own results, as it wrote them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine: Machine
    result: JsonValue


def start_marker(name: str) -> str:
    return f"<!-- figures:{name} -->"


def end_marker(name: str) -> str:
    return f"<!-- /figures:{name} -->"


def block(benchmark: Benchmark, kept: Kept) -> list[str]:
    """The lines between the markers: the machine, then the benchmark's figures."""
    return [kept.machine.line(), "", *benchmark.load(kept.result).figures()]


def _bounds(lines: list[str], name: str) -> tuple[int, int]:
    starts = [i for i, line in enumerate(lines) if line == start_marker(name)]
    ends = [i for i, line in enumerate(lines) if line == end_marker(name)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(
            f"the README needs exactly one {start_marker(name)} line followed by one {end_marker(name)} line"
        )
    return starts[0], ends[0]


def framed(body: list[str]) -> list[str]:
    """A block's lines as they stand between its markers: framed by blank lines (Markdown needs them
    around a table)."""
    return ["", *body, ""]


def read_blocks(text: str, names: Sequence[str]) -> dict[str, list[str]]:
    """The lines between each named block's markers."""
    lines = text.split("\n")
    found = {}
    for name in names:
        start, end = _bounds(lines, name)
        found[name] = lines[start + 1 : end]
    return found


def rewrite(text: str, blocks: dict[str, list[str]]) -> str:
    """``text`` with each named block's lines replaced (``framed``); nothing else changes."""
    lines = text.split("\n")
    for name, body in blocks.items():
        start, end = _bounds(lines, name)
        lines[start + 1 : end] = framed(body)
    return "\n".join(lines)


def kept_path(name: str) -> Path:
    return RESULTS / f"{name}.json"


def load_kept(name: str) -> Kept:
    return Kept.model_validate_json(kept_path(name).read_text())


def run(benchmark: Benchmark) -> tuple[int, Kept | None]:
    """Runs the benchmark, its output passed through; its exit status and results with the machine."""
    loads: list[float] = [os.getloadavg()[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(LOAD_SAMPLE_SECONDS):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="figures-") as scratch:
        out = Path(scratch) / "result.json"
        command = [sys.executable, "-m", *benchmark.command, "--json", str(out)]
        print(f"figures: {' '.join(command[1:])}", flush=True)
        status = subprocess.run(command, cwd=ROOT, check=False).returncode
        done.set()
        sampler.join()
        if not out.exists():
            return status, None
        machine = Machine(
            date=datetime.now(UTC).date().isoformat(),
            cores=os.cpu_count() or 1,
            load_low=min(loads),
            load_high=max(loads),
        )
        return status, Kept(machine=machine, result=json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [benchmark.name for benchmark in BENCHMARKS]
    parser.add_argument("--only", choices=names, action="append", help="run only this benchmark")
    parser.add_argument("--render", action="store_true", help="run nothing; rewrite from the kept results")
    args = parser.parse_args(argv)
    failed = []
    for benchmark in BENCHMARKS:
        if args.render or benchmark.name not in (args.only or names):
            continue
        status, kept = run(benchmark)
        if kept is not None:
            RESULTS.mkdir(exist_ok=True)
            kept_path(benchmark.name).write_text(kept.model_dump_json(indent=1) + "\n")
        if status != 0:
            failed.append(f"{benchmark.name} (exit {status}{'' if kept else ', no results'})")
    blocks = {b.name: block(b, load_kept(b.name)) for b in BENCHMARKS if kept_path(b.name).exists()}
    README.write_text(rewrite(README.read_text(), blocks))
    print(f"figures: rewrote {', '.join(blocks) or 'nothing'} in {README.name}")
    if failed:
        print(f"figures: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
