from typing import Any

from azure.durable_functions.models.actions.Action import Action

class TaskBase:
    result: Any
    # The actions that stand for this task (the extension replays them); devhost/replay.py reads them.
    action_repr: list[Action] | Action
    parent: CompoundTask | None
    @property
    def is_completed(self) -> bool: ...

class CompoundTask(TaskBase): ...
class AtomicTask(TaskBase): ...

class TimerTask(AtomicTask):
    @property
    def is_cancelled(self) -> bool: ...
    def cancel(self) -> None: ...

class WhenAllTask(CompoundTask): ...

class RetryAbleTask(WhenAllTask):
    # A *_with_retry call: a WhenAllTask that adds a timer and a re-attempt (NoOpAction tasks) per failure.
    actions: list[Action] | Action  # the wrapped task's action_repr
    is_waiting_on_timer: bool
