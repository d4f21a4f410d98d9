"""Activities that check a run's dependencies before it pays for anything, and measure what it costs.

``run_preflight`` answers every check as data: a failed check is a finding, not an error, and one that
failed on something transient (throttling, a 5xx, a timeout) says so (the stage lets the run go on
with a warning: the run's own stages retry and record such failures). Only its own storage reads
raise, for Durable to retry. ``measure_hosting`` records the hours the run's hourly-billed deployments
have been up.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df

from activities.implements import implements
from shared.azure.clients import artifact_store, openai_account, openai_client
from shared.azure.deployments import RUN_TAG
from shared.azure.preflight import Dependencies, run_checks
from shared.contracts.payloads import HostingMeasured, HostingRequest, PreflightRequest, PreflightResult
from shared.contracts.specs import MEASURE_HOSTING, RUN_PREFLIGHT
from shared.domain.cost import hosting_records
from shared.domain.layout import lineage_path, report_path
from shared.domain.lineage import Lineage
from shared.domain.report import RunReport
from shared.domain.settings import get_settings

bp = df.Blueprint()


@implements(bp, RUN_PREFLIGHT)
def run_preflight(request: PreflightRequest) -> PreflightResult:
    dependencies = Dependencies(openai_account(), openai_client(), artifact_store(), get_settings())
    return run_checks(dependencies, request, datetime.now(UTC))


@implements(bp, MEASURE_HOSTING)
def measure_hosting(request: HostingRequest) -> HostingMeasured:
    """The run's hourly-billed deployments (tagged with its id) measured until ``at``; those deleted
    since end when the lineage says they were deleted."""
    store, account = artifact_store(), openai_account()
    report = store.read_model(report_path(request.run_id), RunReport)
    lineage = store.read_model(lineage_path(request.lineage), Lineage)
    deleted = {
        version.deployment: version.deployment_deleted_at
        for version in (lineage.versions if lineage else [])
        if version.deployment and version.deployment_deleted_at
    }
    ours = [
        item
        for item in account.client.deployments.list(account.resource_group, account.account)
        if (item.tags or {}).get(RUN_TAG) == request.run_id
    ]
    previous = report.hosting if report else []
    records = hosting_records(get_settings().prices(), ours, previous, deleted, request.at)
    return HostingMeasured(records=records)
