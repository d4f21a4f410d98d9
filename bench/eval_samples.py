"""Benchmark: how many samples per validation task an evaluation needs. ``python -m bench.eval_samples``

One run of the app (devhost, Azurite, the emulator, chat latency 0) on the quote agent, with
``MEASURED_SAMPLES`` samples of every validation task: its baseline and its iteration's champion
evaluation sample the base model, its iteration's candidate evaluation samples a model trained once as
the app trains it (24 rollouts, the default filter). Their per-(task, sample) rewards (read from the
stages' traces, as the comparison activity reads them) are then resampled into evaluations of S = 1,
2, 4 and 8 samples per task, ``TRIALS`` times each, and every one is bounded as promotion bounds it
(shared/domain/significance.py, confidence 0.9, margin 0):

- ``equal promoted``: the base model against itself (two independent resamples): false promotions;
- ``candidate promoted``: the one-iteration candidate against the base model: how often a real,
  modest improvement is recognised;
- ``rollouts`` and ``chat cost``: what an iteration's two evaluations (candidate and champion) run and
  cost, at the tokens per rollout the run measured and the default gpt-4.1-mini price (docs/cost.md).

``--json PATH`` writes the results (``SamplesResult``) for ``scripts/figures.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bench.table import Column, cells, console_header, console_row, fixed, markdown
from devhost import DevHost
from scripts.local_env import local_services
from shared.azure.clients import artifact_store
from shared.domain.cost import DEFAULT_PRICING, usd_of_tokens
from shared.domain.report import RunReport
from shared.domain.significance import SampleKey, bound, clears, pair_up
from shared.storage.evaluations import stage_rewards

AGENT = "quote"
MEASURED_SAMPLES = 16
SAMPLES = (1, 2, 4, 8)
TRIALS = 400
SEED = 5
CONFIDENCE = 0.9
RUN_ID = "eval-samples"


class Row(BaseModel):
    """One S: what an iteration's evaluations run and cost, and how often they promote."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int
    rollouts: int
    chat_usd: float
    equal_promoted: float
    candidate_promoted: float
    median_lower: float


COLUMNS: tuple[Column[Row], ...] = (
    Column("samples per task", lambda r: str(r.samples), 16),
    Column("evaluation rollouts per iteration", lambda r: str(r.rollouts), 33),
    Column("chat cost per iteration", lambda r: f"${r.chat_usd:.4f}", 23),
    Column("equal promoted", lambda r: f"{r.equal_promoted:.1%}", 14),
    Column("candidate promoted", lambda r: f"{r.candidate_promoted:.1%}", 18),
    Column("candidate's median lower bound", lambda r: fixed(3)(r.median_lower), 30),
)


class SamplesResult(BaseModel):
    """The rows, and what they rest on: the tasks, the measured means and the tokens per rollout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: int
    base_reward: float
    candidate_reward: float
    input_tokens_per_rollout: float
    output_tokens_per_rollout: float
    trials: int
    rows: list[Row]

    def figures(self) -> list[str]:
        return [
            *markdown(COLUMNS, cells(COLUMNS, self.rows)),
            "",
            f"The quote agent's {self.tasks} validation tasks, {MEASURED_SAMPLES} samples of each measured "
            f"per model: the base model {self.base_reward:.3f}, a candidate trained once as the app trains "
            f"it {self.candidate_reward:.3f}; each row resamples {self.trials} evaluations from them. A "
            f"rollout read {self.input_tokens_per_rollout:.0f} and wrote {self.output_tokens_per_rollout:.0f}"
            " tokens (the emulator's count).",
        ]


def measure(host: DevHost) -> tuple[dict[SampleKey, float], dict[SampleKey, float], RunReport]:
    """One run; the base model's samples (baseline and champion evaluations) and the candidate's."""
    settings = {
        "run_id": RUN_ID,
        "lineage": RUN_ID,
        "agent": AGENT,
        "deployment_prefix": "samples",
        "iterations": 1,
        "eval_samples_per_task": MEASURED_SAMPLES,
    }
    response = host.http("POST", "/api/runs", json=settings)
    if response.status_code != 202:
        raise RuntimeError(f"the run was refused: {response.get_body()!r}")
    asyncio.run(host.wait_for_completion(RUN_ID, timeout=1800))
    report = RunReport.model_validate(
        json.loads(host.http("GET", f"/api/runs/{RUN_ID}").get_body())["report"]
    )
    (entry,) = report.iterations
    if entry.comparison is None or report.baseline is None or report.baseline.traces_prefix is None:
        raise RuntimeError(f"the run compared no candidate: {entry.status} {entry.error}")
    store = artifact_store()
    stages = {stage.group: stage.traces_prefix for stage in entry.rollout_stages}
    base = stage_rewards(store, report.baseline.traces_prefix)
    again = stage_rewards(store, stages["champion-val"])
    merged = {
        **base,
        **{(task, sample + MEASURED_SAMPLES): reward for (task, sample), reward in again.items()},
    }
    return merged, stage_rewards(store, stages["val"]), report


def by_task(rewards: dict[SampleKey, float]) -> dict[str, list[float]]:
    tasks: dict[str, list[float]] = {}
    for (task, _), reward in sorted(rewards.items()):
        tasks.setdefault(task, []).append(reward)
    return tasks


def draw(rng: random.Random, pool: dict[str, list[float]], samples: int) -> dict[SampleKey, float]:
    return {(task, k): rng.choice(values) for task, values in pool.items() for k in range(samples)}


def simulate(
    base: dict[SampleKey, float], candidate: dict[SampleKey, float], report: RunReport
) -> SamplesResult:
    base_pool, candidate_pool = by_task(base), by_task(candidate)
    stages = [stage for entry in report.iterations for stage in entry.rollout_stages]
    scored = sum(stage.ok + stage.failed for stage in stages)
    reading = sum(stage.input_tokens for stage in stages) / scored
    writing = sum(stage.output_tokens for stage in stages) / scored
    rates = DEFAULT_PRICING.inference_per_1m("gpt-4.1-mini")
    if rates is None:
        raise RuntimeError("no inference price for gpt-4.1-mini")
    rng = random.Random(SEED)
    rows = []
    for samples in SAMPLES:
        equal = better = 0
        lowers = []
        for _ in range(TRIALS):
            champion = draw(rng, base_pool, samples)
            equal += clears(
                bound(pair_up(draw(rng, base_pool, samples), champion).differences, CONFIDENCE), 0.0
            )
            result = bound(pair_up(draw(rng, candidate_pool, samples), champion).differences, CONFIDENCE)
            better += clears(result, 0.0)
            lowers.append(result.lower)
        rollouts = 2 * len(base_pool) * samples
        chat = usd_of_tokens(round(rollouts * reading), rates[0]) + usd_of_tokens(
            round(rollouts * writing), rates[1]
        )
        rows.append(
            Row(
                samples=samples,
                rollouts=rollouts,
                chat_usd=round(chat, 6),
                equal_promoted=equal / TRIALS,
                candidate_promoted=better / TRIALS,
                median_lower=sorted(lowers)[TRIALS // 2],
            )
        )
    return SamplesResult(
        tasks=len(base_pool),
        base_reward=sum(base.values()) / len(base),
        candidate_reward=sum(candidate.values()) / len(candidate),
        input_tokens_per_rollout=reading,
        output_tokens_per_rollout=writing,
        trials=TRIALS,
        rows=rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the results (SamplesResult) here")
    args = parser.parse_args(argv)
    flags = ("--time-scale", "0.01", "--chat-latency", "0", "--seed", "7", "--rate-limit-scale", "100")
    with (
        tempfile.TemporaryDirectory(prefix="samples-azurite-") as azurite_dir,
        local_services(*flags, azurite_dir=Path(azurite_dir), default_ports=False),
    ):
        import function_app  # noqa: PLC0415 - reads the app settings local_services exported

        with DevHost(function_app.app, clock="virtual", max_workers=8) as host:
            base, candidate, report = measure(host)
    result = simulate(base, candidate, report)
    print(console_header(COLUMNS))
    for row in result.rows:
        print(console_row(COLUMNS, row))
    print(result.figures()[-1])
    if args.json:
        args.json.write_text(result.model_dump_json(indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
