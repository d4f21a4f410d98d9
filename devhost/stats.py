"""Replay cost per instance, for benchmarks: how big the history is and how long replaying it takes.

Every episode replays the whole history of the current execution through the SDK, so the cost of an
orchestration grows with its history; ``continue_as_new`` starts a new execution with an empty history.
devhost measures, per instance and summed over its ``continue_as_new`` generations (kept in the store, so
a resumed host keeps counting):

- ``events``: history events of the current execution (what the next replay starts from);
  ``events_all_generations`` adds the final history length of every earlier execution.
- ``episodes``: replays; ``events_replayed``: history events handed to the SDK, summed over episodes
  (the replay work, quadratic in history length without ``continue_as_new``).
- ``replay_ms_*``: wall time of the SDK's part of each episode (parsing the context JSON, running the
  generator through the history, producing the state JSON), as the Python worker spends it in Azure;
  devhost's own bookkeeping is not included. ``replay_ms_per_event`` = total / ``events_replayed``.

Sub-orchestrations are instances of their own: ``sub_orchestrations`` lists the children this instance
started (of any generation, while they are in the store); ask for each by its id.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .store import Instance


class HistoryStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance_id: str
    runtime_status: str
    generations: int
    events: int
    events_all_generations: int
    episodes: int
    events_replayed: int
    replay_ms_total: float
    replay_ms_per_episode: float
    replay_ms_max_episode: float
    replay_ms_last_episode: float
    replay_ms_per_event: float
    sub_orchestrations: list[str]

    @classmethod
    def of(cls, instance: Instance, children: list[str]) -> HistoryStats:
        stats = instance.stats
        total_ms = stats.replay_seconds * 1000
        return cls(
            instance_id=instance.instance_id,
            runtime_status=instance.runtime_status,
            generations=stats.generations,
            events=len(instance.history),
            events_all_generations=stats.events_previous_generations + len(instance.history),
            episodes=stats.episodes,
            events_replayed=stats.events_replayed,
            replay_ms_total=total_ms,
            replay_ms_per_episode=total_ms / stats.episodes if stats.episodes else 0.0,
            replay_ms_max_episode=stats.replay_seconds_max * 1000,
            replay_ms_last_episode=stats.replay_seconds_last * 1000,
            replay_ms_per_event=total_ms / stats.events_replayed if stats.events_replayed else 0.0,
            sub_orchestrations=children,
        )
