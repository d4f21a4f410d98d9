"""An evaluation's rewards read back from its traces, and two evaluations compared (docs/report.md,
"Promotion").

A rollout stage hands the orchestrator only its counts and mean (its history must not grow with the
rollouts), so the per-rollout rewards a paired comparison needs are read here from the stage's traces in
Blob, keyed by (task id, sample) from each trace's root span. Only the bounds go back.
"""

from __future__ import annotations

from shared.agents.traces import TASK_ID, TASK_SAMPLE, parse_jsonl, root_span, summarize
from shared.contracts.payloads import CompareEvaluations, PairedDifference
from shared.domain.significance import SampleKey, bound, pair_up, perfect_candidate
from shared.storage.artifacts import ArtifactStore
from shared.storage.production import read_blobs


def stage_rewards(store: ArtifactStore, prefix: str) -> dict[SampleKey, float]:
    """The scored rollouts of a stage by (task id, sample): an answer's reward, an agent error's 0;
    a throttled or cancelled rollout was never scored and is left out, as the stage's mean leaves it."""
    rewards: dict[SampleKey, float] = {}
    for path, text in read_blobs(store, store.list_paths(prefix)).items():
        spans = parse_jsonl(text)
        root = root_span(spans)
        summary = summarize(spans, path, path)
        if root is None or summary.status not in ("ok", "failed"):
            continue
        task, sample = root.attributes.get(TASK_ID), root.attributes.get(TASK_SAMPLE, 0)
        if isinstance(task, str) and isinstance(sample, int):
            rewards[(task, sample)] = summary.reward
    return rewards


def compare(store: ArtifactStore, request: CompareEvaluations) -> PairedDifference:
    """The candidate's rewards paired with the champion's and the difference bounded; without a
    candidate, the bound of a candidate that earns the highest reward on every sample."""
    champion = stage_rewards(store, request.champion.traces_prefix)
    if request.candidate is None:
        candidate = perfect_candidate(champion)
    else:
        candidate = stage_rewards(store, request.candidate.traces_prefix)
    paired = pair_up(candidate, champion)
    if not paired.differences:
        return PairedDifference(unpaired=paired.unpaired)
    result = bound(paired.differences, request.confidence)
    return PairedDifference(
        tasks=result.tasks,
        pairs=paired.pairs,
        unpaired=paired.unpaired,
        candidate_reward=paired.candidate_mean,
        champion_reward=paired.champion_mean,
        difference=result.difference,
        lower=result.lower,
        upper=result.upper,
        method=result.method,
        arrangements=result.arrangements,
    )
