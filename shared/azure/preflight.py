"""Preflight: touch every dependency a run needs before its first paid step, and say what to change.

A resource-group typo used to surface at the deploy stage, after a job had been paid for. Each check
here answers ``{name, ok, detail, fix}``:

- ``arm``: list the account's deployments (subscription, resource group, account and role all right);
- ``deployment`` (before a run only): the deployment is among them and provisioned (no chat);
- ``chat``: the deployment the run starts from answers a 1-token chat;
- ``serving``: that deployment's model is not retired for inference (ARM's dates, Azure's clock);
- ``blob``: a probe blob can be written, read back and deleted;
- ``model``: this account can start a supervised job from the model now: its profile offers it (or,
  outside the table, ``capabilities.fineTune``), its training date for this account has not passed
  (shared/domain/lifecycle.py); a refusal names the date and the models the account can fine-tune now;
- ``offer``: the account (``accounts.get``) offers what the model's profile needs: a Foundry resource
  for open models, the training type and a Standard deployment in its region;
- ``deployments``: one more fine-tuned deployment can ever fit (``MAX_FINE_TUNED_DEPLOYMENTS``) beside
  those no run of the app will free; when the shared slots are all taken for now, the run waits;
- ``files``: the resource has room for one more training file (``MAX_TRAINING_FILES``,
  ``MAX_TRAINING_FILE_BYTES``: Azure's per-resource limits);
- ``budget``: the job's estimated cost fits what is left of ``budget_usd``.

Beside the checks, ``warnings`` name the retirements within ``LIFECYCLE_WARNING_DAYS`` that touch the
run or its lineage's champion, and ``lifecycle`` the dates of what it touches (docs/models.md).

The same function serves the preflight activity (SDK clients with retries) and ``GET /api/preflight``
(clients with request-time timeouts); the caller passes the clients. ``POST /api/runs`` runs the
checks of the run's settings that need nothing but reads (``settings_checks``) before it takes a run
id, so a typo is a 400 rather than a failed run; the chat, the probe blob and the resource's room
stay in the run (a paid call, a write, and conditions that change while a run waits).

A failure that looks transient (throttling, 5xx, a timeout) is marked so: it says nothing about the
configuration, so a run goes on with a warning rather than ending on it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from azure.mgmt.cognitiveservices.models import Deployment
from openai import AzureOpenAI

from shared.azure.deployments import RUN_TAG, Account, fine_tuned
from shared.azure.errors import describe, is_transient
from shared.azure.lifecycle import AccountModels, read_models
from shared.contracts.payloads import Check, PreflightRequest, PreflightResult
from shared.domain.cost import (
    CHARS_PER_TOKEN,
    EXPECTED_OUTPUT_SHARE,
    CostEstimate,
    budget_verdict,
    dataset_tokens,
    estimate,
    estimate_inference,
    expected_examples_tokens,
)
from shared.domain.errors import ErrorInfo
from shared.domain.layout import report_path
from shared.domain.lifecycle import (
    LifecycleView,
    ModelDates,
    day,
    retirement_warnings,
    serving_refusal,
    training_refusal,
)
from shared.domain.models import offer_problems, platform_id, profile_of, root_model
from shared.domain.report import RunReport
from shared.domain.settings import AppSettings
from shared.storage.artifacts import ArtifactStore

PROBE_PREFIX = "preflight/"
PROBE_TEXT = "durable-finetune preflight probe"
LIFECYCLE_WARNING = "LifecycleWarning"
TRANSIENT_FIX = "a transient failure (throttling, a 5xx or a timeout): retry in a minute"
ROLE_FIX = (
    "grant the app's identity the 'durable-finetune deployments operator' role on the account "
    "(docs/deploy.md; it needs accounts/read, accounts/models/read and accounts/deployments/*)"
)


@dataclass(frozen=True)
class Dependencies:
    """What the checks talk to: ARM (the account), the data plane, Blob, and the app settings."""

    account: Account
    openai: AzureOpenAI
    store: ArtifactStore
    settings: AppSettings


@dataclass(frozen=True)
class PlannedFile:
    """The training file a job would use: tokens by the approximation, and bytes."""

    tokens: int
    bytes: int
    basis: Literal["dataset", "expected"]


def run_checks(deps: Dependencies, request: PreflightRequest, now: datetime) -> PreflightResult:
    """Runs every check (none stops the others) and prices the job; ``ok`` when all pass. Lifecycle
    dates are read against Azure's clock (``now`` when ARM's answer has none)."""
    planned = planned_file(deps, request)
    report = deps.store.read_model(report_path(request.run_id), RunReport) if request.run_id else None
    deployments, arm = check_arm(deps)
    cost = price(deps.settings, request, planned, report, deployments)
    spent = spent_usd(report)
    models, unread = read_lifecycle(deps, now)
    found = [
        arm,
        check_chat(deps, request.deployment, deployments) if request.deployment else None,
        check_serving(models, request.deployment, deployments) if request.deployment else None,
        check_blob(deps.store),
        check_model(models, request.model) if models else unread,
        check_offer(deps, request),
        check_deployment_room(deps.settings, deployments, request.kept_deployments, arm),
        check_file_room(deps, planned.bytes),
        check_budget(request, cost, spent),
    ]
    checks = [check for check in found if check is not None]
    warnings, view = check_lifecycle_warnings(deps, models, request, deployments)
    return PreflightResult(
        ok=all(check.ok for check in checks),
        checks=checks,
        cost=cost,
        spent_usd=spent,
        warnings=warnings,
        lifecycle=view,
    )


def settings_checks(deps: Dependencies, request: PreflightRequest, now: datetime) -> PreflightResult:
    """The checks of a run's settings that cost nothing but ARM reads, for a run not started yet (no
    dataset, nothing spent): the account answers, the deployment exists and its model still serves,
    the model can be fine-tuned by this account now and its profile's needs are offered here, the
    expected first job fits the budget; ``ok`` when all pass."""
    deployments, arm = check_arm(deps)
    cost = price(deps.settings, request, planned_file(deps, request), None, deployments)
    models, unread = read_lifecycle(deps, now)
    found = [
        arm,
        check_deployment(request.deployment or "", deployments, arm),
        check_serving(models, request.deployment or "", deployments),
        check_model(models, request.model) if models else unread,
        check_offer(deps, request),
        check_budget(request, cost, 0.0),
    ]
    checks = [check for check in found if check is not None]
    warnings, view = check_lifecycle_warnings(deps, models, request, deployments)
    return PreflightResult(
        ok=all(check.ok for check in checks), checks=checks, cost=cost, warnings=warnings, lifecycle=view
    )


def price(
    settings: AppSettings,
    request: PreflightRequest,
    planned: PlannedFile,
    report: RunReport | None,
    deployments: list[Deployment] | None,
) -> CostEstimate:
    """The job's estimated cost: the planned file's tokens at the model's training price, and beside it
    the iteration's rollouts, with the tokens per rollout the run has measured (its report's rollout
    stages) or, before any, ``EXPECTED_TOKENS_PER_ROLLOUT``. Each part of the rollouts is priced at the
    model that serves it, as ARM's ``deployments`` list says: the batch at the rollout deployment's (a
    teacher, say), the champion's side at the champion deployment's (the rollout deployment's before
    there is a champion), the candidate's at the trained model's."""
    prices = settings.prices()
    training = estimate(
        prices, request.model, request.training_type, planned.tokens, request.n_epochs, basis=planned.basis
    )
    if not request.batch_rollouts and not request.evaluation_rollouts:
        return training
    batch = served_model(request.rollout_deployment or "", deployments) or request.model
    champion = served_model(request.champion_deployment or "", deployments) or request.champion_model or batch
    measured = measured_tokens(report)
    expected = settings.expected_tokens_per_rollout
    inference = estimate_inference(
        prices,
        [
            ("batch", batch, request.batch_rollouts),
            ("champion", champion, request.evaluation_rollouts),
            ("candidate", request.model, request.evaluation_rollouts),
        ],
        measured or (expected, expected * EXPECTED_OUTPUT_SHARE),
        basis="measured" if measured else "expected",
    )
    return training.model_copy(update={"inference": inference})


def measured_tokens(report: RunReport | None) -> tuple[float, float] | None:
    """Mean chat tokens (read, written) per scored rollout over the run's rollout stages so far."""
    if report is None:
        return None
    stages = [*(report.baseline.rollout_stages if report.baseline else [])]
    stages += [stage for item in report.iterations for stage in item.rollout_stages]
    scored = sum(stage.ok + stage.failed for stage in stages)
    if not scored:
        return None
    return (
        sum(stage.input_tokens for stage in stages) / scored,
        sum(stage.output_tokens for stage in stages) / scored,
    )


def planned_file(deps: Dependencies, request: PreflightRequest) -> PlannedFile:
    """The dataset the job would train on: counted when it is built, else expected from the settings
    (``EXPECTED_TOKENS_PER_ROLLOUT`` per kept rollout; bytes at four characters per token)."""
    text = deps.store.read_text(request.dataset_blob) if request.dataset_blob else None
    if text is not None:
        return PlannedFile(dataset_tokens(text), len(text.encode("utf-8")), "dataset")
    tokens = expected_examples_tokens(
        request.rollouts, request.data_filter_ratio, deps.settings.expected_tokens_per_rollout
    )
    return PlannedFile(tokens, tokens * CHARS_PER_TOKEN, "expected")


def spent_usd(report: RunReport | None) -> float:
    """What the run has cost so far by its report (training and hosting), 0 before it has one."""
    cost = report.cost if report is not None else None
    return 0.0 if cost is None else cost.total_usd


def failure(name: str, exc: Exception, fix: Callable[[ErrorInfo], str]) -> Check:
    """A check that failed on ``exc``: Azure's code and message, and what to change (or retry)."""
    info = describe(exc)
    if is_transient(exc):
        return Check(
            name=name, ok=False, detail=f"{info.code}: {info.message}", fix=TRANSIENT_FIX, transient=True
        )
    return Check(name=name, ok=False, detail=f"{info.code}: {info.message}", fix=fix(info))


def check_arm(deps: Dependencies) -> tuple[list[Deployment] | None, Check]:
    """Lists the account's deployments: the one ARM call that proves subscription, resource group,
    account and role at once."""
    account = deps.account
    try:
        deployments = list(account.client.deployments.list(account.resource_group, account.account))
    except Exception as exc:  # noqa: BLE001 - any failure of the dependency is the check's answer
        return None, failure("arm", exc, lambda info: arm_fix(deps.settings, info))
    detail = f"account {account.account} in {account.resource_group}: {len(deployments)} deployments"
    return deployments, Check(name="arm", ok=True, detail=detail)


def arm_fix(settings: AppSettings, info: ErrorInfo) -> str:
    """Which setting or role an ARM error code points at."""
    fixes = {
        "SubscriptionNotFound": f"AZURE_SUBSCRIPTION_ID ({settings.azure_subscription_id}) must be the "
        "subscription that holds the Azure OpenAI account",
        "InvalidSubscriptionId": "AZURE_SUBSCRIPTION_ID must be a subscription id (a GUID)",
        "ResourceGroupNotFound": f"AZURE_RESOURCE_GROUP ({settings.azure_resource_group}) must be the "
        f"resource group of the account {settings.azure_openai_account}",
        "ResourceNotFound": f"AZURE_OPENAI_ACCOUNT ({settings.azure_openai_account}) must name an Azure "
        f"OpenAI account in {settings.azure_resource_group}",
        "ParentResourceNotFound": f"AZURE_OPENAI_ACCOUNT ({settings.azure_openai_account}) must name an "
        f"Azure OpenAI account in {settings.azure_resource_group}",
        "AuthorizationFailed": ROLE_FIX,
    }
    if info.code in fixes:
        return fixes[info.code]
    if info.status in (401, 403):
        return f"the app could not authenticate or is not allowed: {ROLE_FIX}"
    return "check AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_OPENAI_ACCOUNT and ARM_ENDPOINT"


def check_chat(deps: Dependencies, deployment: str, deployments: list[Deployment] | None) -> Check:
    """Sends the deployment one chat completion of one token: it exists, serves, and lets us in."""
    try:
        deps.openai.chat.completions.create(
            model=deployment, messages=[{"role": "user", "content": "ping"}], max_tokens=1
        )
    except Exception as exc:  # noqa: BLE001 - any failure of the dependency is the check's answer
        return failure("chat", exc, lambda info: chat_fix(deployment, deployments, info))
    return Check(name="chat", ok=True, detail=f"deployment {deployment} answered a 1-token chat")


def chat_fix(deployment: str, deployments: list[Deployment] | None, info: ErrorInfo) -> str:
    if info.code == "DeploymentNotFound":
        return deployment_fix(deployments)
    if info.status == 404:
        return f"{deployment} answers 404: its model may be retired for inference; deploy a current model"
    if info.status in (401, 403):
        return (
            "grant the app's identity 'Cognitive Services OpenAI Contributor' on the account (or set "
            "AZURE_OPENAI_API_KEY), and check AZURE_OPENAI_ENDPOINT"
        )
    return "check AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_VERSION"


def after_arm_failed(name: str, arm: Check) -> Check:
    """A check that reads ARM's deployment list, when listing failed: transient if that was."""
    detail, fix = "not checked: ARM failed", "fix the arm check first"
    return Check(name=name, ok=False, detail=detail, fix=fix, transient=arm.transient)


def deployment_fix(deployments: list[Deployment] | None) -> str:
    names = sorted(item.name for item in deployments or [] if item.name)
    known = f" (the account has: {', '.join(names)})" if names else ""
    return f"set base_deployment (BASE_DEPLOYMENT) to a deployment that exists and has succeeded{known}"


def check_deployment(deployment: str, deployments: list[Deployment] | None, arm: Check) -> Check:
    """The deployment is in the account's list and provisioned, read from the list ``arm`` fetched."""
    if deployments is None:
        return after_arm_failed("deployment", arm)
    found = next((item for item in deployments if item.name == deployment), None)
    state = found.properties.provisioning_state if found is not None and found.properties else None
    if found is None:
        detail = f"{deployment} is not among the account's deployments"
    elif state != "Succeeded":
        detail = f"{deployment} is {state}, not Succeeded"
    else:
        return Check(name="deployment", ok=True, detail=f"deployment {deployment} exists and has succeeded")
    return Check(name="deployment", ok=False, detail=detail, fix=deployment_fix(deployments))


def check_blob(store: ArtifactStore) -> Check:
    """Writes, reads back and deletes a probe blob: the run can keep its traces, datasets and report."""
    path = f"{PROBE_PREFIX}{secrets.token_hex(8)}.txt"
    try:
        store.write_text(path, PROBE_TEXT)
        read = store.read_text(path)
        store.delete(path)
    except Exception as exc:  # noqa: BLE001 - any failure of the dependency is the check's answer
        return failure("blob", exc, blob_fix)
    if read != PROBE_TEXT:
        return Check(name="blob", ok=False, detail=f"{path} read back differently", fix=blob_fix(None))
    return Check(name="blob", ok=True, detail="a probe blob was written, read back and deleted")


def blob_fix(info: ErrorInfo | None) -> str:
    if info is not None and info.status in (401, 403):
        return "grant the app's identity 'Storage Blob Data Owner' (or Contributor) on the storage account"
    return (
        "check ARTIFACTS_BLOB_ENDPOINT (or, locally, ARTIFACTS_STORAGE_CONNECTION_STRING) and "
        "ARTIFACTS_CONTAINER"
    )


def read_lifecycle(deps: Dependencies, now: datetime) -> tuple[AccountModels | None, Check | None]:
    """ARM's model list of the account with Azure's clock; on failure, the failed ``model`` check."""
    try:
        models = read_models(deps.account, deps.settings.existing_families, now)
    except Exception as exc:  # noqa: BLE001 - any failure of the dependency is the check's answer
        return None, failure(
            "model", exc, lambda info: ROLE_FIX if info.status in (401, 403) else "check ARM (see arm)"
        )
    return models, None


def check_model(models: AccountModels, model: str) -> Check:
    """The account can start a supervised fine-tuning job from ``model`` now: listed, offered by its
    profile (or, outside the table, by ``capabilities.fineTune``) and not retired for fine-tuning for
    this account (shared/domain/lifecycle.py); a refusal names the date and the models it can train."""
    dates = models.dates(model)
    base_id = root_model(model)
    trainable = models.trainable_now()
    can = f"this account can fine-tune now: {', '.join(trainable) or 'none of its listed models'}"
    fix = (
        f"set base_model (BASE_MODEL) to a model this account can fine-tune ({can.split(': ', 1)[1]}); "
        "docs/models.md says which path applies to whom"
    )
    if not dates.listed:
        return Check(
            name="model", ok=False, detail=f"{base_id} is not among the account's models; {can}", fix=fix
        )
    refusal = training_refusal(dates, models.now)
    if refusal is not None:
        return Check(name="model", ok=False, detail=f"{refusal}; {can}", fix=fix)
    return Check(name="model", ok=True, detail=f"{model} is fine-tunable{retirement_note(dates)}")


def retirement_note(dates: ModelDates) -> str:
    known = [
        f"{what} retires {day(moment)} ({source})"
        for what, moment, source in (
            ("fine-tuning", dates.fine_tune, dates.fine_tune_source),
            ("inference", dates.inference, dates.inference_source),
        )
        if moment is not None
    ]
    return f" ({'; '.join(known)})" if known else " (no retirement date listed)"


def served_model(deployment: str, deployments: list[Deployment] | None) -> str | None:
    """The model id a deployment of the account serves, by ARM's list; None when it is not listed."""
    found = next((item for item in deployments or [] if item.name == deployment), None)
    model = found.properties.model if found is not None and found.properties else None
    if model is None or not model.name:
        return None
    return platform_id(model.name, model.version or "")


def check_serving(
    models: AccountModels | None, deployment: str, deployments: list[Deployment] | None
) -> Check | None:
    """The deployment the run's rollouts or evaluation go to serves a model not retired for inference
    (a retired model's deployment answers 404 to every chat call); None when the deployment is not
    listed (the deployment and chat checks say so)."""
    model = served_model(deployment, deployments)
    if model is None or models is None:
        return None
    found = next(item for item in deployments or [] if item.name == deployment)
    refusal = serving_refusal(models.dates(model), models.now, found.sku.name if found.sku else None)
    if refusal is None:
        return Check(name="serving", ok=True, detail=f"deployment {deployment} serves {model}")
    fix = (
        "set base_deployment (BASE_DEPLOYMENT) to a deployment of a current model, e.g. a teacher such as "
        "gpt-5.1: the run distils its rewarded traces into base_model (docs/models.md, 'Distillation')"
    )
    return Check(name="serving", ok=False, detail=f"deployment {deployment}: {refusal}", fix=fix)


def check_offer(deps: Dependencies, request: PreflightRequest) -> Check | None:
    """What the base model's profile needs of the account: a Foundry resource (``kind: AIServices``) for
    open models, and the training type (and a Standard deployment) offered in the account's region
    (docs/models.md); None for a model outside the table."""
    profile = profile_of(request.model)
    if profile is None:
        return None
    account = deps.account
    try:
        found = account.client.accounts.get(account.resource_group, account.account)
    except Exception as exc:  # noqa: BLE001 - any failure of the dependency is the check's answer
        return failure(
            "offer", exc, lambda info: ROLE_FIX if info.status in (401, 403) else "check ARM (see arm)"
        )
    location = (found.location or "").replace(" ", "").lower()
    problems = offer_problems(profile, found.kind or "", location, request.training_type, request.sku_name)
    where = f"account {account.account} ({found.kind}, {found.location})"
    if problems:
        detail = f"{where}: {'; '.join(item.problem for item in problems)}"
        fix = "; ".join(dict.fromkeys(item.fix for item in problems))
        return Check(name="offer", ok=False, detail=detail, fix=fix)
    return Check(
        name="offer", ok=True, detail=f"{where} offers {request.training_type} training of {profile.arm_name}"
    )


def check_lifecycle_warnings(
    deps: Dependencies,
    models: AccountModels | None,
    request: PreflightRequest,
    deployments: list[Deployment] | None,
) -> tuple[list[ErrorInfo], LifecycleView | None]:
    """Retirements within ``LIFECYCLE_WARNING_DAYS`` that touch the run or its lineage's champion, and
    the dates of what the run touches."""
    if models is None:
        return [], None
    rollouts = served_model(request.deployment, deployments) if request.deployment else None
    found = next((item for item in deployments or [] if item.name == request.deployment), None)
    champion = request.champion_model
    view = models.view([m for m in (root_model(request.model), rollouts, champion) if m])
    texts = retirement_warnings(
        view,
        training=root_model(request.model),
        rollouts=rollouts,
        champion=(champion, request.champion_deployment or "") if champion else None,
        days=deps.settings.lifecycle_warning_days,
        rebasing_to=request.rebasing_to,
        rollouts_sku=found.sku.name if found is not None and found.sku is not None else None,
    )
    return [ErrorInfo(code=LIFECYCLE_WARNING, message=text) for text in texts], view


def check_deployment_room(
    settings: AppSettings, deployments: list[Deployment] | None, kept: list[str], arm: Check
) -> Check:
    """One more fine-tuned deployment can ever fit ``MAX_FINE_TUNED_DEPLOYMENTS`` (base-model
    deployments do not count): the slots no run of the app will free, those of fine-tuned deployments
    made outside the app (without its run tag) and those the run keeps (its champion's), leave one. The
    other slots are shared by every lineage: a run that finds none free waits for one (docs/accounts.md)."""
    if deployments is None:
        return after_arm_failed("deployments", arm)
    tuned = [item for item in deployments if item.name and fine_tuned(item)]
    outside = sorted(str(item.name) for item in tuned if RUN_TAG not in (item.tags or {}))
    ours = sorted(str(item.name) for item in tuned if item.name in kept and item.name not in outside)
    limit = settings.max_fine_tuned_deployments
    detail = (
        f"{len(tuned)} of {limit} fine-tuned deployments in use ({len(outside)} made outside the app, "
        f"{len(ours)} kept by this run); a run waits for a slot when none is free"
    )
    if len(outside) + len(ours) + 1 <= limit:
        return Check(name="deployments", ok=True, detail=detail)
    fix = (
        f"delete fine-tuned deployments made outside the app that no one uses ({', '.join(outside)}); raise "
        "MAX_FINE_TUNED_DEPLOYMENTS only if your quota is higher"
    )
    return Check(name="deployments", ok=False, detail=detail, fix=fix)


def check_file_room(deps: Dependencies, planned_bytes: int) -> Check:
    """One more training file fits ``MAX_TRAINING_FILES`` and ``MAX_TRAINING_FILE_BYTES``."""
    settings = deps.settings
    try:
        files = list(deps.openai.files.list(purpose="fine-tune"))
    except Exception as exc:  # noqa: BLE001 - any failure of the dependency is the check's answer
        return failure("files", exc, files_fix)
    used = sum(file.bytes or 0 for file in files)
    detail = (
        f"{len(files)} of {settings.max_training_files} training files, {used:,} of "
        f"{settings.max_training_file_bytes:,} bytes; the next file ~{planned_bytes:,} bytes"
    )
    if (
        len(files) + 1 <= settings.max_training_files
        and used + planned_bytes <= settings.max_training_file_bytes
    ):
        return Check(name="files", ok=True, detail=detail)
    fix = (
        "delete training files whose jobs have ended (the datasets stay in Blob); raise MAX_TRAINING_FILES "
        "or MAX_TRAINING_FILE_BYTES only if Azure's limits for your resource are higher"
    )
    return Check(name="files", ok=False, detail=detail, fix=fix)


def files_fix(info: ErrorInfo) -> str:
    if info.status in (401, 403):
        return "grant the app's identity 'Cognitive Services OpenAI Contributor' on the account"
    return "check AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_VERSION"


def check_budget(request: PreflightRequest, cost: CostEstimate, spent: float) -> Check:
    """The job's estimate fits what is left of ``budget_usd``; before any dataset, the detail also
    gives the whole run's expected cost."""
    fits, detail = budget_verdict(request.budget_usd, spent, cost)
    if cost.basis == "expected" and cost.estimated_usd is not None and request.iterations > 1:
        chat = cost.inference.estimated_usd or 0.0 if cost.inference is not None else 0.0
        detail += (
            f"; {request.iterations} iterations ~ ${(cost.estimated_usd + chat) * request.iterations:.4f}"
        )
    if fits:
        return Check(name="budget", ok=True, detail=detail)
    fix = (
        "raise budget_usd, train on less (finetune_every_n_rollouts, data_filter_ratio, n_epochs), or "
        "choose a cheaper training_type; add the model family to PRICING if it has no price"
    )
    return Check(name="budget", ok=False, detail=detail, fix=fix)
