"""The activities, each declared once: its registered name, the request it takes and the result it gives.

Orchestrators call an activity by its spec (``orch.call(BUILD_DATASET, request)`` is a step whose result
mypy knows is a ``DatasetResult``) and activities implement one (``@implements(bp, BUILD_DATASET)``,
activities/implements.py). Both layers import this module and neither imports the other. To add an
activity: declare its spec here, implement it in activities/, call it from an orchestrator.

A spec also does the one conversion between models and the JSON that Durable Functions carries: the
orchestrator sends ``encode_request``, the activity reads ``decode_request`` and answers
``encode_result``, the orchestrator reads ``decode_result``. Durable copies every payload into the
orchestration's history, so requests and results hold ids, blob paths and numbers, never datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from shared.agents.traces import RolloutSummary
from shared.contracts.payloads import (
    BuildDataset,
    CancelRequest,
    ClaimLineage,
    CollectedOutputs,
    CollectOutputs,
    CompareEvaluations,
    CrownChampion,
    DatasetResult,
    DeleteDeployments,
    DeploymentLimits,
    DeploymentRef,
    DeploymentResult,
    DeploymentsDeleted,
    DeploymentsRemaining,
    Done,
    FileRef,
    FileResult,
    HostingMeasured,
    HostingRequest,
    InitRun,
    JobIds,
    JobRef,
    JobResult,
    JobsDeleted,
    JobsMarked,
    LineageClaim,
    LineageRef,
    PairedDifference,
    PreflightRequest,
    PreflightResult,
    ProbeResult,
    RecordVersion,
    ReleaseLineage,
    ReportUpdate,
    ReserveVersion,
    RolloutRequest,
    RunRef,
    StaleRun,
    StartDeployment,
    StartJob,
    UploadFile,
    VersionReserved,
)

Request = TypeVar("Request", bound=BaseModel)
Result = TypeVar("Result", bound=BaseModel)

Wire = dict[str, object]
"""A request or result as Durable Functions carries it: a JSON object."""


@dataclass(frozen=True)
class ActivitySpec(Generic[Request, Result]):
    """One activity: the name it is registered and called by, what it takes and what it answers."""

    name: str
    request: type[Request]
    result: type[Result]

    def encode_request(self, request: Request) -> Wire:
        return self._encode(request, self.request)

    def decode_request(self, payload: object) -> Request:
        return self.request.model_validate(payload)

    def encode_result(self, result: Result) -> Wire:
        return self._encode(result, self.result)

    def decode_result(self, answer: object) -> Result:
        return self.result.model_validate(answer)

    def _encode(self, value: BaseModel, expected: type[BaseModel]) -> Wire:
        """The value's JSON, after checking it is the model the spec declares (a subclass would carry
        fields the other side does not read)."""
        if type(value) is not expected:
            raise TypeError(f"{self.name} carries {expected.__name__}, not {type(value).__name__}")
        return value.model_dump(mode="json")


# Runs and their reports (activities/runs.py)
INIT_RUN = ActivitySpec("init_run", InitRun, Done)
UPDATE_REPORT = ActivitySpec("update_report", ReportUpdate, Done)
READ_CANCEL_REQUEST = ActivitySpec("read_cancel_request", RunRef, CancelRequest)
DESCRIBE_STALE_RUN = ActivitySpec("describe_stale_run", RunRef, StaleRun)

# Rollouts, evaluations and datasets (activities/rollouts.py, activities/evaluations.py,
# activities/datasets.py)
RUN_ROLLOUT = ActivitySpec("run_rollout", RolloutRequest, RolloutSummary)
COMPARE_EVALUATIONS = ActivitySpec("compare_evaluations", CompareEvaluations, PairedDifference)
BUILD_DATASET = ActivitySpec("build_dataset", BuildDataset, DatasetResult)

# Files and fine-tuning jobs (activities/finetuning.py)
UPLOAD_TRAINING_FILE = ActivitySpec("upload_training_file", UploadFile, FileResult)
GET_TRAINING_FILE = ActivitySpec("get_training_file", FileRef, FileResult)
START_FINETUNE_JOB = ActivitySpec("start_finetune_job", StartJob, JobResult)
GET_FINETUNE_JOB = ActivitySpec("get_finetune_job", JobRef, JobResult)
CANCEL_FINETUNE_JOB = ActivitySpec("cancel_finetune_job", JobRef, JobResult)
RESUME_FINETUNE_JOB = ActivitySpec("resume_finetune_job", JobRef, JobResult)
COLLECT_JOB_OUTPUTS = ActivitySpec("collect_job_outputs", CollectOutputs, CollectedOutputs)
DELETE_FILE = ActivitySpec("delete_file", FileRef, FileResult)
DELETE_FINETUNE_JOBS = ActivitySpec("delete_finetune_jobs", JobIds, JobsDeleted)

# Deployments (activities/deployments.py)
START_DEPLOYMENT = ActivitySpec("start_deployment", StartDeployment, DeploymentResult)
GET_DEPLOYMENT = ActivitySpec("get_deployment", DeploymentRef, DeploymentResult)
DELETE_DEPLOYMENTS = ActivitySpec("delete_deployments", DeleteDeployments, DeploymentsRemaining)
READ_DEPLOYMENT_LIMITS = ActivitySpec("read_deployment_limits", DeploymentRef, DeploymentLimits)
PROBE_DEPLOYMENT = ActivitySpec("probe_deployment", DeploymentRef, ProbeResult)

# The lineage record (activities/lineages.py)
CLAIM_LINEAGE = ActivitySpec("claim_lineage", ClaimLineage, LineageClaim)
RELEASE_LINEAGE = ActivitySpec("release_lineage", ReleaseLineage, Done)
RESERVE_LINEAGE_VERSION = ActivitySpec("reserve_lineage_version", ReserveVersion, VersionReserved)
RECORD_LINEAGE_VERSION = ActivitySpec("record_lineage_version", RecordVersion, Done)
CROWN_LINEAGE_CHAMPION = ActivitySpec("crown_lineage_champion", CrownChampion, Done)
MARK_LINEAGE_DEPLOYMENTS_DELETED = ActivitySpec("mark_lineage_deployments_deleted", DeploymentsDeleted, Done)
LIST_FORGETTABLE_JOBS = ActivitySpec("list_forgettable_jobs", LineageRef, JobIds)
MARK_LINEAGE_JOBS_DELETED = ActivitySpec("mark_lineage_jobs_deleted", JobsMarked, Done)

# Preflight and cost (activities/preflight.py)
RUN_PREFLIGHT = ActivitySpec("run_preflight", PreflightRequest, PreflightResult)
MEASURE_HOSTING = ActivitySpec("measure_hosting", HostingRequest, HostingMeasured)
