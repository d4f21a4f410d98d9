"""Files on both surfaces, validation outcomes, auth and routing errors."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import cast

import openai
import pytest
from openai.types import FilePurpose

from tests.emulator.support import azure_status, jsonl, success_example, success_file, upload, wait_processed
from tests.fixtures.emulator import AZURE_API_VERSION, EmulatorHandle

pytestmark = pytest.mark.timeout(60)


@pytest.mark.rule("LC2", "P1", "P2", "P3", "P4")
@pytest.mark.parametrize("surface", ["v1", "azure"])
def test_file_round_trip(emulator_reset: EmulatorHandle, surface: str) -> None:
    client = emulator_reset.openai_v1() if surface == "v1" else emulator_reset.azure_openai()
    data = success_file()
    created = upload(client, data)
    assert created.id.startswith("file-") and len(created.id) == 37
    assert azure_status(created) == "pending"
    assert created.bytes == len(data)
    assert created.purpose == "fine-tune"
    done = wait_processed(client, created.id)
    assert done.status == "processed" and done.status_details is None
    assert [f.id for f in client.files.list()] == [created.id]
    assert client.files.content(created.id).read() == data
    deleted = client.files.delete(created.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert list(client.files.list()) == []


@pytest.mark.rule("P2")
def test_list_pagination_and_purpose_filter(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1()
    ids = [upload(client, success_file()).id for _ in range(3)]
    other = client.files.create(file=("notes.txt", io.BytesIO(b"hello")), purpose="assistants")
    first = client.files.list(limit=2, purpose="fine-tune")
    assert len(first.data) == 2 and first.has_more is True
    every = [f.id for f in client.files.list(limit=2, purpose="fine-tune")]  # auto-paginates via 'after'
    assert sorted(every) == sorted(ids) and other.id not in every
    assert [f.id for f in client.files.list(order="asc")] == [*ids, other.id]


def _calling_with(arguments: str) -> bytes:
    """Ten examples whose assistant turn calls a tool with ``arguments`` (a JSON string, or not)."""
    call = {"id": "a", "type": "function", "function": {"name": "f", "arguments": arguments}}
    example = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]}
    return jsonl([example] * 10)


BAD_FILES = [
    ("train.jsonl", b"{not json}\n" * 10, "line 1: invalid JSON"),
    ("train.jsonl", jsonl([{"prompt": "x"}] * 10), "'messages' is missing"),
    (
        "train.jsonl",
        jsonl([{"messages": [{"role": "robot", "content": "x"}]}] * 10),
        "role 'robot' is invalid",
    ),
    ("train.jsonl", jsonl([{"messages": [{"role": "user", "content": "x"}]}] * 10), "at least one assistant"),
    ("train.jsonl", _calling_with("{oops"), "arguments is not valid JSON"),
    (
        "train.jsonl",
        jsonl(
            [
                {
                    "messages": [
                        {"role": "user", "content": "x"},
                        {"role": "tool", "tool_call_id": "zz", "content": "y"},
                        {"role": "assistant", "content": "z"},
                    ]
                }
            ]
            * 10
        ),
        "tool_call_id does not match",
    ),
    (
        "train.jsonl",
        jsonl([{**success_example("capital of peru", "Peru", "Lima"), "tools": [{"type": "function"}]}] * 10),
        "tools[0].function.name",
    ),
    (
        "train.jsonl",
        jsonl([success_example("capital of peru", "Peru", "Lima")] * 9),
        "at least 10 are required",
    ),
    ("train.csv", success_file(), "must be .jsonl"),
    # Nested deeper than Python's JSON parser recurses (issue 20: this was a 500): invalid like any line.
    ("train.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 1: invalid JSON (nested too deeply)"),
    (
        "train.jsonl",
        _calling_with("[" * 100_000 + "]" * 100_000),
        "arguments is not valid JSON (nested too deeply)",
    ),
]


@pytest.mark.rule("LC2", "V1")
@pytest.mark.parametrize(("name", "data", "reason"), BAD_FILES)
def test_invalid_training_files_end_in_error(
    emulator_reset: EmulatorHandle, name: str, data: bytes, reason: str
) -> None:
    client = emulator_reset.openai_v1()
    created = upload(client, data, name=name)
    assert azure_status(created) == "pending"
    done = wait_processed(client, created.id)
    assert done.status == "error"
    assert reason in (done.status_details or "")


@pytest.mark.rule("V1")
def test_bad_purpose_and_missing_file_field(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    with pytest.raises(openai.BadRequestError, match="purpose"):
        # The refusal under test: a purpose outside the SDK's (and Azure's) list.
        client.files.create(
            file=("t.jsonl", io.BytesIO(success_file())), purpose=cast(FilePurpose, "nonsense")
        )
    with emulator_reset.http_client() as http:
        response = http.post(
            emulator_reset.url + "/openai/v1/files",
            headers={"api-key": "k"},
            files={"purpose": (None, "fine-tune")},
        )
    assert response.status_code == 400 and response.json()["error"]["param"] == "file"


@pytest.mark.rule("Q6")
def test_file_quota(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--max-files", "2")
    client = handle.openai_v1(max_retries=0)
    upload(client, success_file())
    upload(client, success_file())
    with pytest.raises(openai.BadRequestError) as info:
        upload(client, success_file())
    assert info.value.code == "quotaExceeded"


@pytest.mark.rule("A1", "X1", "D1")
def test_auth_envelope_and_headers(emulator_reset: EmulatorHandle) -> None:
    url = emulator_reset.url + "/openai/v1/files"
    with emulator_reset.http_client() as http:
        missing = http.get(url)
        assert missing.status_code == 401
        assert (
            missing.json()["error"]["code"] == "401" and "Access denied" in missing.json()["error"]["message"]
        )
        assert http.get(url, headers={"api-key": "anything"}).status_code == 200
        assert http.get(url, headers={"Authorization": "Bearer token"}).status_code == 200
        assert http.get(url, headers={"api-key": "k", "Authorization": "Bearer t"}).status_code == 200
        no_version = http.get(emulator_reset.url + "/openai/files", headers={"api-key": "k"})
        assert no_version.status_code == 404 and no_version.json()["error"]["message"] == "Resource not found"
        versioned = http.get(
            emulator_reset.url + f"/openai/files?api-version={AZURE_API_VERSION}", headers={"api-key": "k"}
        )
        assert versioned.status_code == 200 and versioned.json()["object"] == "list"
        unknown = http.get(emulator_reset.url + "/openai/v1/nothing-here", headers={"api-key": "k"})
        assert unknown.status_code == 404 and "error" in unknown.json()


@pytest.mark.rule("A1")
def test_configured_api_key(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--api-key", "s3cret")
    with pytest.raises(openai.AuthenticationError):
        handle.openai_v1(api_key="wrong", max_retries=0).files.list()
    assert list(handle.openai_v1(api_key="s3cret").files.list()) == []
    with pytest.raises(openai.AuthenticationError):
        handle.azure_openai(api_key="wrong", max_retries=0).files.list()
    assert list(handle.azure_openai(api_key="s3cret").files.list()) == []
    assert (
        list(
            handle.azure_openai(
                api_key=None, azure_ad_token_provider=lambda: "header.payload.signature"
            ).files.list()
        )
        == []
    )


@pytest.mark.rule("P4")
def test_content_is_bytes_exactly(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.azure_openai()
    data = jsonl([success_example("Tell me Kenya's capital.", "Kenya", "Nairobi")] * 10)
    created = upload(client, data)
    first_line = client.files.content(created.id).read().splitlines()[0]
    assert json.loads(first_line)["messages"]


@pytest.mark.rule("P1", "Q21")
@pytest.mark.parametrize("surface", ["v1", "azure"])
def test_upload_answers_with_location(emulator_reset: EmulatorHandle, surface: str) -> None:
    client = emulator_reset.openai_v1() if surface == "v1" else emulator_reset.azure_openai()
    raw = client.files.with_raw_response.create(
        file=("t.jsonl", io.BytesIO(success_file())), purpose="fine-tune"
    )
    created = raw.parse()
    prefix = "/openai/v1" if surface == "v1" else "/openai"
    assert (
        raw.status_code == 201
        and raw.headers["location"] == f"{emulator_reset.url}{prefix}/files/{created.id}"
    )
