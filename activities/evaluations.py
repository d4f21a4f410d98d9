"""The evaluation activity: two evaluations of the same tasks and samples compared from their traces
in Blob (shared/storage/evaluations.py); only the difference and its bounds go back."""

from __future__ import annotations

import azure.durable_functions as df

from activities.implements import implements
from shared.azure.clients import artifact_store
from shared.contracts.payloads import CompareEvaluations, PairedDifference
from shared.contracts.specs import COMPARE_EVALUATIONS
from shared.storage.evaluations import compare

bp = df.Blueprint()


@implements(bp, COMPARE_EVALUATIONS)
def compare_evaluations(request: CompareEvaluations) -> PairedDifference:
    return compare(artifact_store(), request)
