"""Property-based fuzzing of every route: whatever method, path, query, headers and body a client sends,
the emulator never answers 5xx (no faults are configured here), and every error is in its surface's
envelope: data plane and admin ``{"error": {"code", "message", ...}}``, ARM
``{"error": {"code", "message", "target", "details", ...}}``.

The app runs in-process (tests/emulator/inprocess.py), seeded with a processed file, a succeeded job, a
fine-tuned deployment and a retirement entry, so generated requests reach deep code paths, not only 404s.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from emulator.app import create_app
from emulator.config import Config, Limits
from tests.emulator.inprocess import Answer, call, call_json
from tests.emulator.support import success_example, success_file

pytestmark = [pytest.mark.timeout(600), pytest.mark.property]
CONFIG = Config(time_scale=0.001, chat_latency=0, seed=3)
SUB, RG, ACCOUNT = CONFIG.subscription, CONFIG.resource_group, CONFIG.account
ACCOUNT_PATH = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.CognitiveServices/accounts/{ACCOUNT}"
)
AUTH = [("api-key", "k"), ("authorization", "Bearer t")]


def _multipart(
    fields: dict[str, tuple[str | None, bytes]], boundary: str = "fuzzboundary"
) -> tuple[str, bytes]:
    out = io.BytesIO()
    for name, (filename, data) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.write(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


def _seeded_app() -> tuple[Starlette, dict[str, str]]:
    """An app holding one of everything, and the ids of those things."""
    app = create_app(CONFIG)
    content_type, body = _multipart({"purpose": (None, b"fine-tune"), "file": ("t.jsonl", success_file())})
    upload = call(app, "POST", "/openai/v1/files", headers=[*AUTH, ("content-type", content_type)], body=body)
    file_id = upload.json()["id"]
    call_json(app, "POST", "/_emulator/clock", {"advance": 10})
    job = call_json(
        app,
        "POST",
        "/openai/v1/fine_tuning/jobs",
        {"model": "gpt-4.1-mini-2025-04-14", "training_file": file_id, "trainingType": "Standard"},
    ).json()
    call_json(app, "POST", "/_emulator/clock", {"advance": 10})
    model = call_json(app, "GET", f"/openai/v1/fine_tuning/jobs/{job['id']}").json()["fine_tuned_model"]
    put = {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"name": model, "version": "1"}},
    }
    call_json(app, "PUT", f"{ACCOUNT_PATH}/deployments/ft?api-version=2025-06-01", put)
    call_json(
        app, "POST", "/_emulator/models/retire", {"model": "gpt-4o-2024-08-06", "fine_tune": "2020-01-01"}
    )
    return app, {"file": file_id, "job": job["id"], "model": model, "deployment": "ft"}


APP, IDS = _seeded_app()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from([*IDS.values(), "gpt-4.1-mini-2025-04-14", "auto", "Standard", "developerTier"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "model",
        "training_file",
        "validation_file",
        "suffix",
        "seed",
        "hyperparameters",
        "method",
        "integrations",
        "trainingType",
        "messages",
        "tools",
        "tool_choice",
        "n",
        "stream",
        "sku",
        "properties",
        "tags",
        "advance",
        "fine_tune",
        "inference",
        "capacity",
        "name",
        "format",
        "deployment",
        "factor",
        "share",
        "seconds",
        "after",
    ]
)
shaped_objects = st.dictionaries(field_names, json_values, max_size=6)


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(min_value=30, max_value=3000))
    opener = draw(st.sampled_from(['{"a":', "["]))
    closer = "}" if opener.startswith("{") else "]"
    return (opener * depth + "1" + closer * depth).encode()


bodies = st.one_of(
    shaped_objects.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    nested(),
    st.sampled_from([b"NaN", b"Infinity", b'{"advance": NaN}', b'{"advance": 1e999}', b"[1e400]", b"{", b""]),
    st.binary(max_size=64),
)

ENDPOINTS = [
    ("POST", "/openai/v1/files"),
    ("GET", "/openai/v1/files"),
    ("GET", "/openai/files"),
    ("GET", "/openai/v1/files/{file}"),
    ("DELETE", "/openai/v1/files/{text}"),
    ("GET", "/openai/v1/files/{file}/content"),
    ("POST", "/openai/v1/fine_tuning/jobs"),
    ("POST", "/openai/fine_tuning/jobs"),
    ("GET", "/openai/v1/fine_tuning/jobs"),
    ("GET", "/openai/v1/fine_tuning/jobs/{job}"),
    ("DELETE", "/openai/v1/fine_tuning/jobs/{text}"),
    ("POST", "/openai/v1/fine_tuning/jobs/{job}/cancel"),
    ("POST", "/openai/v1/fine_tuning/jobs/{job}/pause"),
    ("POST", "/openai/v1/fine_tuning/jobs/{job}/resume"),
    ("GET", "/openai/v1/fine_tuning/jobs/{job}/events"),
    ("GET", "/openai/v1/fine_tuning/jobs/{job}/checkpoints"),
    ("POST", "/openai/v1/chat/completions"),
    ("POST", "/openai/deployments/{deployment}/chat/completions"),
    ("POST", "/openai/deployments/gpt-4.1-mini/chat/completions"),
    ("GET", f"{ACCOUNT_PATH}/deployments"),
    ("PUT", f"{ACCOUNT_PATH}/deployments/{{deployment}}"),
    ("PUT", f"{ACCOUNT_PATH}/deployments/{{text}}"),
    ("PATCH", f"{ACCOUNT_PATH}/deployments/{{deployment}}"),
    ("PATCH", f"{ACCOUNT_PATH}/deployments/gpt-4.1-mini"),
    ("DELETE", f"{ACCOUNT_PATH}/deployments/{{text}}"),
    ("GET", f"{ACCOUNT_PATH}/deployments/{{deployment}}"),
    ("GET", f"{ACCOUNT_PATH}/models"),
    (
        "GET",
        f"/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/x/operationStatuses/{{text}}",
    ),
    ("GET", "/subscriptions/{text}/resourceGroups/x"),
    ("GET", "/_emulator/state"),
    ("POST", "/_emulator/clock"),
    ("POST", "/_emulator/models/retire"),
    ("GET", "/_emulator/ratelimit"),
    ("POST", "/_emulator/ratelimit/lower"),
    ("POST", "/_emulator/ratelimit/load"),
    ("DELETE", "/_emulator/ratelimit"),
    ("GET", "/nothing/{text}"),
    ("POST", "/openai/v1/{text}"),
    ("GET", f"{ACCOUNT_PATH}/{{text}}"),
]
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
mostly = st.sampled_from([True] * 9 + [False])  # uniform draws; integers would lean to their minimum


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str]:
    """(method, path): mostly a route's own method, sometimes any method."""
    method, template = draw(st.sampled_from(ENDPOINTS))
    if not draw(mostly):
        method = draw(methods)
    text = draw(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12))
    return method, template.format(text=text, **IDS)


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    params = draw(
        st.dictionaries(
            st.sampled_from(["limit", "after", "order", "purpose", "x"]),
            st.one_of(
                st.text(max_size=10), st.integers(-5, 10**6).map(str), st.sampled_from(["asc", "desc"])
            ),
            max_size=3,
        )
    )
    if draw(mostly):
        params["api-version"] = draw(st.sampled_from(["2025-06-01", "2025-04-01-preview", ""]))
    return urllib.parse.urlencode(params).encode()


content_types = st.sampled_from(
    ["application/json", "application/json", "text/plain", "multipart/form-data; boundary=fuzzboundary"]
)
uploads = st.tuples(
    st.sampled_from([b"fine-tune", b"assistants", b"nonsense", b""]),
    st.binary(max_size=300) | st.just(success_file()),
).map(lambda f: _multipart({"purpose": (None, f[0]), "file": ("x.jsonl", f[1])})[1])


def _is_fault_injection(method: str, path: str) -> bool:
    """Requests that would configure faults (and so legitimate 5xx answers) are not sent."""
    return method == "POST" and path.startswith("/_emulator/faults")


def _assert_envelope(path: str, answer: Answer) -> None:
    error = answer.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if path.startswith("/subscriptions"):
        assert "target" in error and isinstance(error["details"], list)


@pytest.mark.rule("X5", "X1")
@settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(
    request=requests(),
    query=queries(),
    content_type=content_types,
    body=bodies | uploads,
    authed=mostly,
)
def test_no_route_answers_5xx_and_errors_use_the_envelope(
    request: tuple[str, str], query: bytes, content_type: str, body: bytes, authed: bool
) -> None:
    method, path = request
    if _is_fault_injection(method, path):
        return
    headers = [("content-type", content_type), *(AUTH if authed else [])]
    answer = call(APP, method, path, query=query, headers=headers, body=body)
    assert answer.status < 500, (method, path, query, body[:200], answer.status, answer.body[:500])
    if answer.status >= 400 and method != "HEAD":
        _assert_envelope(path, answer)


def test_no_faults_were_configured_by_the_fuzzing() -> None:
    faults: dict[str, Any] = call_json(APP, "GET", "/_emulator/faults").json()
    assert faults["routes"] == [] and faults["fail_next_jobs"] == 0 and faults["fail_next_deployments"] == 0


# --- uploads: whatever a multipart body and its JSONL hold, the answer is never a 5xx ------------------

UPLOAD_APP = create_app(Config(time_scale=0.001, chat_latency=0, seed=5, limits=Limits(files=1_000_000)))
GOOD_LINE = json.dumps(success_example("What is the capital of Peru?", "Peru", "Lima"))
DEEP_ARGUMENTS = json.dumps(
    {
        "messages": [
            {"role": "user", "content": "capital of peru"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[" * 5000}}
                ],
            },
        ]
    }
)
odd_lines = st.one_of(
    st.just(DEEP_ARGUMENTS),
    nested().map(bytes.decode),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.text(max_size=40),
)
# Mostly ten or more good examples with an odd line or none, so many files get as far as a job.
jsonl_files = st.one_of(
    st.tuples(st.integers(10, 14), st.lists(odd_lines, max_size=1)).map(
        lambda f: "\n".join([GOOD_LINE] * f[0] + f[1]).encode()
    ),
    st.lists(odd_lines | st.just(GOOD_LINE), max_size=14).map(lambda ls: "\n".join(ls).encode()),
    st.binary(max_size=200),
)
boundaries = st.sampled_from(["fuzzboundary"] * 6 + ["", '"quoted"', "a" * 100, "x y"])
part_headers = st.sampled_from(
    ['form-data; name="file"; filename="t.jsonl"'] * 6
    + [
        'form-data; name="file"; filename=""',
        'form-data; name="file"; filename="\u00e9\u00e8.jsonl"',
        'form-data; name="file"',
        "form-data",
        'attachment; filename="t.jsonl"',
        "",
    ]
)


@st.composite
def multipart_uploads(draw: st.DrawFn) -> tuple[str, bytes]:
    boundary = draw(boundaries)
    purpose = draw(st.sampled_from([b"fine-tune"] * 4 + [b"\xff\xfe", b""]))
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'.encode()
        + purpose
        + f"\r\n--{boundary}\r\nContent-Disposition: {draw(part_headers)}\r\n\r\n".encode()
        + draw(jsonl_files)
        + draw(st.sampled_from([f"\r\n--{boundary}--\r\n".encode(), b"", b"\r\n--"]))
    )
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                "multipart/form-data",
                "multipart/mixed; boundary=b",
            ]
        )
    )
    return content_type, body


@pytest.mark.rule("X5", "V1")
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(upload=multipart_uploads())
def test_no_upload_answers_5xx_and_its_file_can_be_read_and_trained_on(upload: tuple[str, bytes]) -> None:
    content_type, body = upload
    headers = [*AUTH, ("content-type", content_type)]
    answer = call(UPLOAD_APP, "POST", "/openai/v1/files", headers=headers, body=body)
    assert answer.status in (201, 400), (body[:300], answer.status, answer.body[:500])
    if answer.status != 201:
        _assert_envelope("/openai/v1/files", answer)
        return
    file_id = answer.json()["id"]
    call_json(UPLOAD_APP, "POST", "/_emulator/clock", {"advance": 10})
    status = call_json(UPLOAD_APP, "GET", f"/openai/v1/files/{file_id}").json()["status"]
    assert status in ("processed", "error")
    job = call_json(
        UPLOAD_APP,
        "POST",
        "/openai/v1/fine_tuning/jobs",
        {"model": "gpt-4.1-mini-2025-04-14", "training_file": file_id, "trainingType": "developerTier"},
    )
    assert job.status == (201 if status == "processed" else 400), job.body[:500]
