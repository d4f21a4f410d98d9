"""The run report as the dashboard reads it: the contract (``RunReport``) plus fields added after it.

The report only ever gains fields (docs/report.md). The dashboard reads the ones it knows through
``RunReport`` and the newer ones (``lineage``, ``champion``, ``cost``, ``throttled``, per iteration
``version``, ``promotion``, ``results_blobs``, ``events_blob``, ``job_status``, ``deployment_state``,
``cost``) from the raw JSON, so it shows them as soon as a report
carries them and shows "-" while none does, whichever of the two lands first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.domain.report import IterationReport, RunReport

UNFINISHED_STATUSES = frozenset({"running", "cancelled"})
"""An iteration still going, or one a cancel stopped before it finished, is not done."""


def usd(value: Any) -> float | None:
    """A cost in US dollars: a plain number, or an object with a numeric ``total_usd`` or ``usd``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        for key in ("total_usd", "usd"):
            if isinstance(value.get(key), int | float) and not isinstance(value.get(key), bool):
                return float(value[key])
    return None


@dataclass(frozen=True)
class IterationView:
    """One iteration: its contract fields and, from the raw JSON, the ones added later."""

    entry: IterationReport
    raw: dict[str, Any]

    def extra(self, name: str) -> Any:
        return self.raw.get(name)

    @property
    def cost_usd(self) -> float | None:
        return usd(self.extra("cost"))


@dataclass(frozen=True)
class ReportView:
    """A report and the raw JSON it was read from."""

    report: RunReport
    raw: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> ReportView:
        """Reads ``report.json``; raises ``ValueError`` (pydantic's, or JSON's) when it is not a report."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("the report is not a JSON object")
        return cls(RunReport.model_validate(raw), raw)

    @classmethod
    def of(cls, report: RunReport) -> ReportView:
        """The view of a report held in memory (its fields are all the raw JSON there is)."""
        return cls(report, report.model_dump(mode="json"))

    def extra(self, name: str) -> Any:
        return self.raw.get(name)

    @property
    def lineage(self) -> str | None:
        return self.report.lineage

    @property
    def cost_usd(self) -> float | None:
        return usd(self.extra("cost"))

    @property
    def champion(self) -> tuple[str | None, str | None]:
        """(deployment, model) serving now: the lineage's champion when the report records one, else
        the run's best-evaluated deployment."""
        champion = self.report.champion
        if champion is not None:
            return champion.deployment, champion.model
        return self.report.promoted_deployment, self.report.promoted_model

    @property
    def iterations(self) -> list[IterationView]:
        raws = {
            item.get("iteration"): item for item in self.raw.get("iterations") or [] if isinstance(item, dict)
        }
        return [IterationView(entry, raws.get(entry.iteration, {})) for entry in self.report.iterations]

    @property
    def iterations_done(self) -> int:
        return sum(1 for item in self.report.iterations if item.status not in UNFINISHED_STATUSES)

    @property
    def versions(self) -> list[int]:
        """The lineage versions of the models this run trained (its jobs that produced one), in order."""
        return [
            item.version
            for item in self.report.iterations
            if item.version is not None and item.fine_tuned_model is not None
        ]
