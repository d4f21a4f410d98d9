from typing import Any

class TaskBase:
    result: Any
    @property
    def is_completed(self) -> bool: ...

class TimerTask(TaskBase):
    @property
    def is_cancelled(self) -> bool: ...
    def cancel(self) -> None: ...
