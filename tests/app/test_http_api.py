"""The HTTP API used as an attacker and a careless user would: bad bodies get a 4xx naming the field
and the fix, never a 500, a traceback, a hang, a coercion or a run; a run id names one run for ever;
the status URL answers 202 until the run has finished; a storage outage is a quick 503.

Every request goes through the real Function App in devhost (``host.http``), against Azurite and the
emulator; the request-reading helpers of ``api.http`` are also tested on their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any, get_args

import azure.durable_functions as df
import azure.functions as func
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from api.dashboard.params import RunsPageParams
from api.http import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    HttpError,
    endpoint,
    json_depth,
    read_json_object,
    spelling,
    type_options,
)
from api.lineages import LineageRef
from api.runs import ACTIVE, Decision, RunRef, StartRun
from devhost import DevHost
from emulator.launch import EmulatorHandle
from orchestrators.finetune_run import ORCHESTRATOR_NAME
from scripts.azurite import REPO_ROOT, Azurite, free_port
from scripts.local_env import app_environment
from shared.azure.clients import artifact_store
from shared.domain.layout import report_path
from shared.domain.models import SkuName
from shared.domain.report import RunReport
from shared.domain.settings import (
    DEPLOYMENT_NAME_PATTERN,
    IDENTIFIER_PATTERN,
    MODEL_ID_PATTERN,
    RUN_ID_PATTERN,
    AppSettings,
    RunSettings,
)
from shared.domain.settings import DEPLOYMENT_PREFIX_PATTERN as PREFIX_PATTERN
from tests.driver import Runs

pytestmark = pytest.mark.timeout(300)
JSON = {"content-type": "application/json"}


def post(host: Any, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    response = host.http("POST", "/api/runs", body=body, headers=JSON if headers is None else headers)
    try:
        return response.status_code, json.loads(response.get_body())
    except ValueError:  # not JSON: a host-level error page, which a test then reports as it is
        return response.status_code, {"not_json": response.get_body()[:500].decode(errors="replace")}


def errors_by_field(payload: dict[str, Any]) -> dict[str, str]:
    assert payload["error"] == "invalid request", payload
    return {item["field"]: item["error"] for item in payload["errors"]}


def instance_ids(host: DevHost) -> set[str]:
    """The runs the host knows (a run's own rollout stages, sub-orchestrations, are not new runs)."""
    statuses = asyncio.run(host.client.get_status_all())
    return {status.instance_id or "" for status in statuses if status.name == ORCHESTRATOR_NAME}


def stop(host: DevHost, run_id: str) -> None:
    """Ends a run a test started only to see it accepted (keeps the emulator quiet)."""
    Runs(host).terminate(run_id, "test is done with it")


# ---------------------------------------------------------------- reading a body, on its own


def request(body: bytes, content_type: str | None = "application/json") -> func.HttpRequest:
    headers = {"content-type": content_type} if content_type is not None else {}
    return func.HttpRequest("POST", "http://localhost/api/runs", headers=headers, body=body)


def respond(
    handler: Callable[[func.HttpRequest], Awaitable[func.HttpResponse]], req: func.HttpRequest
) -> func.HttpResponse:
    """What an ``endpoint``-wrapped handler answers ``req`` (``asyncio.run`` takes a coroutine, and
    ``endpoint`` types its wrapper as returning an awaitable)."""

    async def awaited() -> func.HttpResponse:
        return await handler(req)

    return asyncio.run(awaited())


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth('{"a": "[[[[{{{{", "b": [1, {"c": "\\"]]]"}]}') == 3
    assert json_depth("[" * 100_000) == 100_000
    assert json_depth("3") == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"[" * 1000 + b"]" * 1000, "application/json", 400, "nests 1000 levels deep"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "application/json", 400, f"at most {MAX_JSON_DEPTH}"),
        (b" " * (MAX_BODY_BYTES + 1), "application/json", 413, f"at most {MAX_BODY_BYTES}"),
        (b'{"seed": 1}', "text/plain", 415, "Content-Type: application/json"),
        (b'{"seed": 1}', None, 415, "Content-Type: application/json"),
        (b'{"seed": 1}', "application/json; charset=latin-1", 415, "UTF-8"),
        (b'{"seed": 1, "seed": 2}', "application/json", 400, "'seed' appears twice"),
        (b'{"seed": NaN}', "application/json", 400, "NaN is not a JSON number"),
        (b'{"seed": 1e999}', "application/json", 400, "too large"),
        (b'{"seed": ' + b"9" * 5000 + b"}", "application/json", 400, "digits"),
        (b'{"base_model": "\\ud800"}', "application/json", 400, "unpaired UTF-16 surrogate"),
        (b'{"base_model": "\xff"}', "application/json", 400, "not UTF-8"),
        (b"\xef\xbb\xbf{}", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "must be a JSON object"),
        (b'"text"', "application/json", 400, "must be a JSON object"),
        (b"{not json", "application/json", 400, "not valid JSON"),
    ],
)
def test_bodies_are_refused_before_parsing_or_validation(
    body: bytes, content_type: str | None, status: int, says: str
) -> None:
    with pytest.raises(HttpError) as caught:
        read_json_object(request(body, content_type))
    assert caught.value.status == status
    assert says in json.dumps(caught.value.body)


@pytest.mark.parametrize("body", [b"", b"  \n", b'{"seed": 1}'])
def test_empty_bodies_mean_defaults_and_a_charset_parameter_is_fine(body: bytes) -> None:
    parsed = read_json_object(request(body, "Application/JSON; charset=UTF-8"))
    assert parsed == (json.loads(body) if body.strip() else {})


def test_a_bug_is_a_bare_500_and_its_traceback_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    @endpoint
    async def broken(req: func.HttpRequest) -> func.HttpResponse:
        raise KeyError("secret detail")

    @endpoint
    async def refusing(req: func.HttpRequest) -> func.HttpResponse:
        raise HttpError(409, "taken", run_id="x", headers={"Retry-After": "1"})

    response = respond(broken, request(b""))
    assert response.status_code == 500
    assert json.loads(response.get_body()) == {"error": "internal error; the app's log has the details"}
    (logged,) = [record for record in caplog.records if record.name == "durable_finetune.api"]
    assert logged.exc_info is not None and "secret detail" in str(logged.exc_info[1])
    refused = respond(refusing, request(b""))
    assert (refused.status_code, refused.headers["Retry-After"]) == (409, "1")
    assert json.loads(refused.get_body()) == {"error": "taken", "run_id": "x"}


# ---------------------------------------------------------------- the findings, through the app


def test_deep_nesting_is_a_400_not_a_500(host: Any) -> None:
    for body in (b"[" * 1000 + b"]" * 1000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        status, payload = post(host, body)
        assert status == 400, payload
        assert "levels deep" in errors_by_field(payload)["(body)"]


@pytest.mark.parametrize(
    ("body", "field", "fix"),
    [
        ({"iterations": "3"}, "iterations", "send a JSON integer"),
        ({"iterations": True}, "iterations", "not true/false"),
        ({"iterations": 1.0}, "iterations", "no decimal point"),
        ({"iterations": "1_000"}, "iterations", "no quotes"),
        ({"data_filter_ratio": "0.5"}, "data_filter_ratio", "send a JSON number"),
        ({"base_model": "gpt\u0000"}, "base_model", "must be a model id: 1 to 128 letters, digits"),
        ({"base_model": "../../etc/passwd"}, "base_model", "must be a model id: 1 to 128 letters"),
        ({"base_model": "m" * 129}, "base_model", "must be a model id: 1 to 128 letters"),
        ({"agent": "../capital_lookup"}, "agent", "must be a name: a letter, then at most 63"),
        ({"deployment_prefix": "a b"}, "deployment_prefix", "must be 2 to 49 letters, digits, '_' and '-'"),
        ({"deployment_prefix": "capital.agent"}, "deployment_prefix", "'-' (no '.')"),
        ({"deployment_prefix": "c"}, "deployment_prefix", "must be 2 to 49 letters"),
        ({"sku_name": "AnythingGoes"}, "sku_name", "'DeveloperTier'"),
        ({"iteratons": 2}, "iteratons", "did you mean 'iterations'"),
        ({"run_id": "Bad Id!"}, "run_id", "must be a run id: 3 to 63 lower-case letters, digits and '-'"),
        ({"run_id": "scheduled-mine"}, "run_id", "timer's"),
        ({"job_poll_initial_seconds": 120}, "job_poll_max_seconds", "must be >= job_poll_initial_seconds"),
    ],
)
def test_settings_are_not_coerced_and_each_error_names_its_field(
    host: Any, body: dict[str, Any], field: str, fix: str
) -> None:
    before = instance_ids(host)
    status, payload = post(host, json.dumps(body).encode())
    assert status == 400, payload
    assert fix in errors_by_field(payload)[field]
    assert instance_ids(host) == before


def patterned_fields(model: type[BaseModel], loc: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Where ``model`` (nested models too) has a string field whose type carries a regular expression."""
    for name, info in model.model_fields.items():
        for kind, metadata in type_options(info.annotation, list(info.metadata)):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from patterned_fields(kind, (*loc, name))
            elif has_pattern(metadata):
                yield (*loc, name)


def has_pattern(metadata: list[Any]) -> bool:
    """A pattern among a type's constraints (a ``Field`` inside ``Annotated`` in a union keeps its own)."""
    return any(
        getattr(item, "pattern", None) or has_pattern(getattr(item, "metadata", [])) for item in metadata
    )


@pytest.mark.parametrize(
    "model", [StartRun, RunRef, Decision, LineageRef, RunsPageParams], ids=lambda m: m.__name__
)
def test_every_patterned_request_field_says_its_rule_in_words(model: type[BaseModel]) -> None:
    """A 400 quotes the field's Spelling, never its regular expression (api/http.py)."""
    fields = list(patterned_fields(model))
    assert fields, f"{model.__name__} has no patterned field: the test would check nothing"
    assert [loc for loc in fields if spelling(model, loc) is None] == [], (
        "patterned fields without a Spelling"
    )


def test_a_400_says_the_rule_in_words_not_the_regex(host: Any) -> None:
    body = {
        "run_id": "Run 1",
        "base_model": "a/b",
        "dataset": "1x",
        "lineage": "-x",
        "production_agent": "Me",
    }
    status, payload = post(host, json.dumps({**body, "source": "both"}).encode())
    assert status == 400
    errors = errors_by_field(payload)
    assert set(errors) == set(body)
    for field, error in errors.items():
        assert error.startswith("must be "), (field, error)
        assert "^" not in error, (field, error)
        assert "pattern" not in error, (field, error)


def test_a_huge_string_is_a_413(host: Any) -> None:
    status, payload = post(host, json.dumps({"base_model": "x" * 10_000_000}).encode())
    assert status == 413
    assert "at most 65536" in payload["error"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", None],
)
def test_the_content_type_is_checked(host: Any, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    status, payload = post(host, b'{"iterations": 1}', headers)
    assert status == 415
    assert "Content-Type: application/json" in payload["error"]


def test_an_integer_for_a_number_is_accepted(host: Any, emulator_reset: EmulatorHandle) -> None:
    status, payload = post(host, json.dumps({"data_filter_ratio": 1, "iterations": 1}).encode())
    assert status == 202, payload
    stop(host, payload["run_id"])


@pytest.mark.parametrize("state", ["Terminated", "report only"])
def test_a_used_run_id_is_refused_whatever_became_of_the_run(
    host: Any, emulator_reset: EmulatorHandle, state: str
) -> None:
    run_id = f"reuse-{uuid.uuid4().hex[:8]}"
    if state == "report only":  # e.g. its instance was purged: the report is the record
        report = RunReport(run_id=run_id, instance_id=run_id, settings={}, started_at="2026-01-01T00:00:00")
        artifact_store().write_json(report_path(run_id), report)
    else:
        status, payload = post(host, json.dumps({"run_id": run_id, "iterations": 1}).encode())
        assert status == 202, payload
        stop(host, run_id)
    before = instance_ids(host)
    status, payload = post(host, json.dumps({"run_id": run_id}).encode())
    assert status == 409
    assert payload["run_id"] == run_id and state.split()[0].lower() in payload["error"].lower()
    assert instance_ids(host) == before


def test_a_run_through_its_status_url_from_start_to_finish(
    host: Any, function_app: ModuleType, emulator_reset: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """202 + Retry-After + Location while running, 200 when done, 409 on reuse; the SDKs stay quiet."""
    caplog.set_level(logging.INFO)
    run_id = f"polled-{uuid.uuid4().hex[:8]}"
    created = host.http(
        "POST", "/api/runs?code=k3y", json={"run_id": run_id, "iterations": 1, "val_limit": 2}
    )
    assert created.status_code == 202
    location = created.headers["Location"]
    assert location.endswith(f"/api/runs/{run_id}?code=k3y") and created.headers["Retry-After"] == "10"

    running = host.http("GET", f"/api/runs/{run_id}?code=k3y")
    assert running.status_code == 202, running.get_body()
    assert running.headers["Location"] == location and running.headers["Retry-After"] == "10"
    assert json.loads(running.get_body())["runtime_status"] in ("Pending", "Running")

    status = Runs(host).ended(run_id)
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed, status.output
    done = host.http("GET", location.removeprefix(host.origin))
    assert done.status_code == 200 and "Location" not in done.headers
    assert json.loads(done.get_body())["report"]["status"] == "succeeded"

    again = host.http("POST", "/api/runs", json={"run_id": run_id})
    assert again.status_code == 409 and "Completed" in json.loads(again.get_body())["error"]

    app_lines = [record for record in caplog.records if record.name == "durable_finetune"]
    assert app_lines, "the app's stage log must come through"
    sdk_lines = [
        f"{record.name}: {record.getMessage()[:80]}"
        for record in caplog.records
        if record.levelno < logging.WARNING
        and any(
            record.name == name or record.name.startswith(f"{name}.") for name in function_app.QUIET_LOGGERS
        )
    ]
    assert sdk_lines == []


def test_the_status_never_shows_a_finished_run_beside_a_running_report(
    host: Any, emulator_reset: EmulatorHandle
) -> None:
    """Polled all through a run, ``GET /api/runs/{id}`` shows the report finished whenever the
    orchestration has (finding: it once showed Completed beside a report still ``running``)."""
    run_id = f"agree-{uuid.uuid4().hex[:8]}"
    body = {"run_id": run_id, "iterations": 1, "data_filter_ratio": 1.0}  # enough examples to train on
    created = host.http("POST", "/api/runs", json=body)
    assert created.status_code == 202, created.get_body()
    answers: list[tuple[int, str | None, str | None, list[str]]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        response = host.http("GET", f"/api/runs/{run_id}")
        body = json.loads(response.get_body())
        report = body["report"] or {"status": None, "iterations": []}
        iterations = [item["status"] for item in report["iterations"]]
        answers.append((response.status_code, body["runtime_status"], report["status"], iterations))
        if response.status_code != 202:
            break
    active = {status.value for status in ACTIVE}
    finished = [answer for answer in answers if answer[1] not in active]
    assert [answer[1] for answer in finished] == ["Completed"], answers[-3:]
    for status_code, _, report_status, iterations in finished:
        assert (status_code, report_status, iterations) == (200, "succeeded", ["succeeded"])
    running = [answer for answer in answers if answer[1] in active]
    assert {answer[0] for answer in running} == {202}
    assert len(running) > 1, "the run was polled while it was going"


# ---------------------------------------------------------------- storage down: 503 within seconds

CHILD = """
import json, time
import function_app
from devhost import DevHost

with DevHost(function_app.app, clock="virtual") as host:
    answers = []
    for method, path, body in (("GET", "/api/runs/some-run", None), ("POST", "/api/runs", {"iterations": 1})):
        started = time.monotonic()
        response = host.http(method, path, json=body)
        answers.append({"status": response.status_code, "retry_after": response.headers.get("Retry-After"),
                        "body": json.loads(response.get_body()), "seconds": time.monotonic() - started})
print(json.dumps(answers))
"""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a storage endpoint that hangs)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


@pytest.mark.parametrize("outage", ["refused", "silent"])
def test_storage_down_is_a_503_within_seconds(
    emulator: EmulatorHandle, tmp_path: Any, silent_port: int, outage: str
) -> None:
    port = free_port() if outage == "refused" else silent_port
    dead = Azurite(blob_port=port, queue_port=port, table_port=port, location=tmp_path)
    env = {
        k: v for k, v in os.environ.items() if k.upper() not in {f.upper() for f in AppSettings.model_fields}
    }
    env.update(app_environment(dead, emulator, {}))
    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for answer in json.loads(result.stdout.splitlines()[-1]):
        assert answer["status"] == 503, answer
        assert answer["retry_after"] == "10" and "artifact storage did not answer" in answer["body"]["error"]
        assert answer["seconds"] < 15, answer
    assert "Traceback" not in result.stdout


# ---------------------------------------------------------------- any body: never a 5xx, never a run


def matching(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern.removeprefix("^").removesuffix("$"), fullmatch=True)


def not_matching(pattern: str) -> st.SearchStrategy[str]:
    return st.text(max_size=70).filter(lambda text: re.fullmatch(pattern, text) is None)


SECONDS = st.floats(min_value=0.001, max_value=7 * 24 * 3600) | st.integers(1, 7 * 24 * 3600)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "iterations": st.integers(1, 50),
    "finetune_every_n_rollouts": st.integers(1, 1000),
    "data_filter_ratio": st.floats(min_value=0.001, max_value=1) | st.just(1),
    "n_epochs": st.integers(1, 50),
    "batch_size": st.integers(1, 256),
    "learning_rate_multiplier": st.floats(min_value=0.001, max_value=10),
    "seed": st.integers(0, 2**31 - 1),
    "training_type": st.sampled_from(["Standard", "GlobalStandard", "developerTier"]),
    "agent": st.just("capital_lookup"),
    "dataset": st.sampled_from([None, "capitals"]),
    "val_limit": st.none() | st.integers(1, 10_000),
    # What the account has: any other model or deployment is refused by the POST's preflight (a 400).
    "base_model": st.none() | st.just("gpt-4.1-mini-2025-04-14"),
    "base_deployment": st.none() | st.just("gpt-5.1"),
    "deployment_prefix": matching(PREFIX_PATTERN),
    "sku_name": st.sampled_from(get_args(SkuName)),
    "sku_capacity": st.integers(1, 100_000),
    "max_deployments": st.integers(1, 20),
    "file_poll_seconds": SECONDS,
    "file_deadline_seconds": SECONDS,
    "job_deadline_seconds": SECONDS,
    "deployment_poll_seconds": SECONDS,
    "deployment_deadline_seconds": SECONDS,
    "retry_max_attempts": st.integers(1, 20),
    "retry_first_interval_seconds": SECONDS,
}
PATTERNS = {
    "agent": IDENTIFIER_PATTERN,
    "dataset": IDENTIFIER_PATTERN,
    "base_model": MODEL_ID_PATTERN,
    "base_deployment": DEPLOYMENT_NAME_PATTERN,
    "deployment_prefix": PREFIX_PATTERN,
}
NOT_A_STRING = st.one_of(
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def out_of_range(field: str) -> st.SearchStrategy[int]:
    """Integers just outside the field's bounds (from its own constraints, so the two cannot drift)."""
    limits = {type(item).__name__: item for item in RunSettings.model_fields[field].metadata}
    low = limits["Ge"].ge - 1 if "Ge" in limits else limits["Gt"].gt
    return st.integers(max_value=int(low)) | st.integers(min_value=int(limits["Le"].le) + 1)


def invalid_value(field: str) -> st.SearchStrategy[Any]:
    """Values ``field`` must refuse: wrong JSON types, out of range, or strings outside its pattern."""
    info = RunSettings.model_fields[field]
    kinds: list[st.SearchStrategy[Any]] = [NOT_A_STRING]
    if info.default is not None:
        kinds.append(st.none())
    if info.annotation in (int, int | None):
        kinds += [out_of_range(field), st.floats(allow_nan=False), st.integers().map(str)]
    elif info.annotation is float:
        kinds += [out_of_range(field), st.floats(allow_nan=False).map(str)]
    elif field in PATTERNS:
        kinds += [not_matching(PATTERNS[field]), st.integers()]
    else:
        allowed = set(get_args(info.annotation))
        kinds += [st.text(max_size=30).filter(lambda text: text not in allowed), st.integers()]
    return st.one_of(kinds)


valid_bodies = st.fixed_dictionaries({}, optional=VALID)


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with one thing wrong: a bad value, an unknown field or a bad run id."""
    body = draw(valid_bodies)
    kind = draw(st.sampled_from(["value", "unknown", "run_id"]))
    if kind == "value":
        field = draw(st.sampled_from(sorted(VALID)))
        body[field] = draw(invalid_value(field))
    elif kind == "unknown":
        body[draw(st.text(min_size=1, max_size=20).filter(lambda name: name not in VALID))] = 1
    else:
        body["run_id"] = draw(not_matching(RUN_ID_PATTERN) | st.integers() | st.just("scheduled-x"))
    return body


def is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


def nested(depth: int) -> bytes:
    return b'{"seed": ' + b"[" * depth + b"]" * depth + b"}"


# (expected outcome, body: a dict to send as JSON or raw bytes, headers)
CASES = st.one_of(
    valid_bodies.map(lambda body: ("valid", body, JSON)),
    near_valid_bodies().map(lambda body: ("bad", body, JSON)),
    st.integers(MAX_JSON_DEPTH + 1, 20_000).map(lambda depth: ("bad", b"[" * depth + b"]" * depth, JSON)),
    st.integers(MAX_JSON_DEPTH, 5_000).map(lambda depth: ("bad", nested(depth), JSON)),
    st.integers(MAX_BODY_BYTES, 4 * MAX_BODY_BYTES).map(lambda n: ("bad", {"base_model": "m" * n}, JSON)),
    st.binary(min_size=1, max_size=300)
    .filter(lambda raw: bool(raw.strip()) and not is_json_object(raw))
    .map(lambda raw: ("bad", raw, JSON)),
    st.tuples(
        valid_bodies, st.sampled_from(["text/plain", "application/xml", "multipart/form-data", "json", ""])
    ).map(lambda pair: ("bad", pair[0] or {"seed": 1}, {"content-type": pair[1]})),
)


@pytest.mark.property
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=CASES, named=st.booleans())
def test_no_body_gets_a_5xx_or_starts_a_run_unless_it_is_valid(
    host: Any,
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, dict[str, Any] | bytes, dict[str, str]],
    named: bool,
) -> None:
    caplog.clear()  # one capture spans every example
    expected, body, headers = case
    run_id = None
    if isinstance(body, dict):
        if named and "run_id" not in body:
            run_id = f"prop-{uuid.uuid4().hex[:12]}"
            body = {**body, "run_id": run_id}
        body = json.dumps(body).encode()
    before = instance_ids(host)
    status, payload = post(host, body, headers)
    started = instance_ids(host) - before
    event(f"{expected} body: {status}")  # --hypothesis-show-statistics shows the spread
    if expected == "valid":
        assert status == 202, payload
        stop(host, payload["run_id"])
        assert started == {payload["run_id"]}
        assert payload["run_id"] == (run_id or payload["run_id"])
    else:
        assert 400 <= status < 500, payload
        assert started == set(), f"{status} but a run started: {started}"
        assert run_id is None or artifact_store().read_text(report_path(run_id)) is None
    bugs = [
        record
        for record in caplog.records
        if record.name == "durable_finetune.api" and record.levelno >= logging.ERROR
    ]
    assert bugs == []


# ---------------------------------------------------------------- make run takes options


def test_make_run_passes_args_through() -> None:
    result = subprocess.run(
        ["make", "-n", "run", "ARGS=--iterations 1 --set val_limit=4"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "-m scripts.local_run --iterations 1 --set val_limit=4" in result.stdout
