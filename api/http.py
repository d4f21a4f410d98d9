"""Request handling every HTTP endpoint shares: JSON bodies in, JSON answers out, 4xx for bad input.

A body is read under limits before anything else looks at it: its size (413), its media type (415),
UTF-8, its nesting depth (counted without recursion before parsing, so a deeply nested body cannot
exhaust the parser's stack), duplicate keys, non-finite numbers and unpaired surrogates (400), and an
object at the top. It is then validated by a pydantic model in strict mode, and every problem becomes
one ``{"field", "error"}`` entry of a 400 ``{"error": "invalid request", "errors": [...]}``.

Handlers raise ``HttpError`` for any answer that is not a success; ``endpoint`` turns it into the
response. ``endpoint`` also answers a generic 500 (the traceback goes to the log, never to the caller)
for an exception nothing expected: that is a bug, and the tests show no input reaches it.

    @bp.route(route="things", methods=["POST"])
    @endpoint
    async def create_thing(req: func.HttpRequest) -> func.HttpResponse:
        thing = read_model(req, Thing)
        ...
        return json_response(201, {...})
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import math
import re
import types
from collections.abc import Awaitable, Callable, Mapping
from itertools import accumulate
from typing import Annotated, Any, ParamSpec, TypeVar, Union, get_args, get_origin

import azure.functions as func
from azure.core.exceptions import AzureError
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shared.domain.settings import Spelling

log = logging.getLogger("durable_finetune.api")

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
MAX_FIELD_NAME_CHARS = 80
# Integers the API takes (seeds, counts, limits) fit in 64 bits; a longer one is refused while parsing,
# before Python's own limit on integer digits (4,300) answers with advice meant for programmers.
MAX_INT_DIGITS = 20
RETRY_AFTER_SECONDS = 10

Model = TypeVar("Model", bound=BaseModel)
P = ParamSpec("P")

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")

# What to do about a type error, by pydantic's error type (the message says what was wrong).
_TYPE_HINTS = {
    "int_type": "send a JSON integer such as 3 (no quotes, no decimal point, not true/false)",
    "float_type": "send a JSON number such as 0.5 (no quotes)",
    "string_type": 'send a JSON string such as "abc"',
    "bool_type": "send true or false",
    "list_type": "send a JSON array",
    "dict_type": "send a JSON object",
    "model_type": "send a JSON object",
    "missing": "this field is required",
}


class HttpError(Exception):
    """An answer other than success; ``endpoint`` sends it as ``{"error": ..., **details}``."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        headers: Mapping[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.body: dict[str, Any] = {"error": error, **details}
        self.headers = dict(headers or {})

    def response(self) -> func.HttpResponse:
        return json_response(self.status, self.body, self.headers)


def bad_request(errors: list[dict[str, str]]) -> HttpError:
    """The one shape of a 400: each problem names its field and how to fix it."""
    return HttpError(400, "invalid request", errors=errors)


def body_error(message: str) -> HttpError:
    return bad_request([{"field": "(body)", "error": message}])


def unavailable(what: str, retry_after: int = RETRY_AFTER_SECONDS) -> HttpError:
    """A 503 for a dependency (storage, the task hub) that did not answer in time: retry later."""
    return HttpError(
        503, f"{what} did not answer; retry in {retry_after} s", headers={"Retry-After": str(retry_after)}
    )


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str),
        status_code=status,
        mimetype="application/json",
        headers=dict(headers or {}),
    )


def endpoint(handler: Callable[P, Awaitable[func.HttpResponse]]) -> Callable[P, Awaitable[func.HttpResponse]]:
    """Wraps an async HTTP handler: ``HttpError`` becomes its answer, an Azure SDK error a 503 to retry,
    anything else a bare 500.

    Put it directly on the function, below the trigger and binding decorators.
    """

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
        try:
            return await handler(*args, **kwargs)
        except HttpError as answer:
            return answer.response()
        except AzureError as exc:  # storage or ARM unreachable after the request-time client's short retries
            log.warning("%s: a dependency did not answer: %s", handler.__name__, exc)
            return unavailable("a dependency (storage or Azure)").response()
        except Exception:  # the last line of defence: a bug must not leak a traceback to the caller
            log.exception("unhandled error in HTTP function %s", handler.__name__)
            return json_response(500, {"error": "internal error; the app's log has the details"})

    return wrapper


def read_json_object(
    req: func.HttpRequest, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}``. Raises ``HttpError`` (400/413/415)."""
    raw = _limited_body(req, max_bytes)
    if not raw.strip():
        return {}
    value = _decode_json(req, raw, max_depth)
    if not isinstance(value, dict):
        raise body_error(f"must be a JSON object ({{...}}), not {_json_type(value)}")
    return value


def read_json(
    req: func.HttpRequest, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The request body as any JSON value, for the endpoints that take an array as well as an object;
    the same rules as ``read_json_object``, and an empty body is a 400. Raises ``HttpError``."""
    raw = _limited_body(req, max_bytes)
    if not raw.strip():
        raise body_error("is empty: send JSON")
    return _decode_json(req, raw, max_depth)


def _limited_body(req: func.HttpRequest, max_bytes: int) -> bytes:
    raw = req.get_body() or b""
    if len(raw) > max_bytes:
        raise HttpError(413, f"the body is {len(raw)} bytes; at most {max_bytes} are accepted")
    return raw


def _decode_json(req: func.HttpRequest, raw: bytes, max_depth: int) -> Any:
    """A non-empty body as JSON: media type, UTF-8 and depth checked before the parser sees it."""
    _require_json_media_type(req.headers.get("content-type"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise body_error(f"is not UTF-8 (byte {exc.start}); send UTF-8 JSON") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise body_error(f"nests {depth} levels deep; at most {max_depth} are accepted")
    return _parse_json(text)


def read_model(req: func.HttpRequest, model: type[Model], **limits: int) -> Model:
    """``read_json_object`` then ``validate``: the usual first line of a handler that takes a body."""
    return validate(model, read_json_object(req, **limits))


def validate(model: type[Model], data: Any) -> Model:
    """Validates ``data`` with ``model`` in strict mode; raises a 400 naming every bad field."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise bad_request(field_errors(exc, model)) from None


def field_errors(exc: ValidationError, model: type[BaseModel] | None = None) -> list[dict[str, str]]:
    """One ``{field, error}`` per pydantic error; the error says what is wrong and how to fix it."""
    return [{"field": _field_name(error), "error": _explain(error, model)} for error in exc.errors()]


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text``, counted without recursion or parsing.

    Strings are removed first (their brackets are data); the rest is a running count of opening and
    closing brackets. Malformed JSON gives some number; the parser rejects it afterwards.
    """
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if char in "[{" else -1 for char in brackets), default=0)


def _require_json_media_type(content_type: str | None) -> None:
    header = content_type or ""
    media_type, *params = (part.strip() for part in header.split(";"))
    fix = "send the header Content-Type: application/json (curl: -H 'content-type: application/json')"
    if media_type.lower() != "application/json":
        raise HttpError(415, f"the body must be JSON: {fix}", content_type=_clip(header))
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise HttpError(415, f"JSON bodies must be UTF-8: {fix}", content_type=_clip(header))


def _parse_json(text: str) -> Any:
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as exc:
        raise body_error(f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # our hooks
        raise body_error(f"is not acceptable JSON: {exc}") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise body_error("contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)") from None
    return value


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"key {_clip(key)!r} appears twice; send each field once")
        seen.add(key)
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_clip(text)} is too large for a number")
    return value


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(
            f"an integer of {digits} digits is out of range; send at most {MAX_INT_DIGITS} digits"
        )
    return int(text)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _field_name(error: ErrorDetails) -> str:
    return _clip(".".join(str(part) for part in error["loc"])) or "(body)"


def _explain(error: ErrorDetails, model: type[BaseModel] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field; remove it" + _did_you_mean(str(error["loc"][-1]), model)
    if kind == "string_pattern_mismatch" and (rule := spelling(model, error["loc"])):
        return f"must be {rule}"
    hint = _TYPE_HINTS.get(kind)
    message = error["msg"].removeprefix("Value error, ")
    return f"{message}: {hint}" if hint and kind != "missing" else hint or message


def spelling(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> str | None:
    """The rule, in words, of the string at ``loc`` in ``model``: the ``Spelling`` its type declares
    (shared/domain/settings.py), found through nested models, lists and optional types; None when it
    declares none."""
    options: list[tuple[Any, list[Any]]] = [(model, [])]
    for part in loc:
        inner = [found for kind, _ in options for found in _member(kind, part)]
        options = inner or options  # a part that names no field (a union member's tag) is skipped
    rules = [item.rule for _, metadata in options for item in metadata if isinstance(item, Spelling)]
    return rules[0] if rules else None


def _member(kind: Any, part: int | str) -> list[tuple[Any, list[Any]]]:
    """What field ``part`` of a model, or item ``part`` of a list, may be, with its metadata."""
    if isinstance(part, str) and isinstance(kind, type) and issubclass(kind, BaseModel):
        field = kind.model_fields.get(part)
        return type_options(field.annotation, field.metadata) if field is not None else []
    if isinstance(part, int) and get_origin(kind) in (list, tuple, set, frozenset):
        return [found for item in get_args(kind)[:1] for found in type_options(item, [])]
    return []


def type_options(annotation: Any, metadata: list[Any]) -> list[tuple[Any, list[Any]]]:
    """``annotation`` without ``Annotated`` and unions: each type it allows, with its metadata."""
    origin = get_origin(annotation)
    if origin is Annotated:
        bare, *extra = get_args(annotation)
        return type_options(bare, [*metadata, *extra])
    if origin in (Union, types.UnionType):
        return [found for item in get_args(annotation) for found in type_options(item, metadata)]
    return [(annotation, metadata)]


def _did_you_mean(name: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_FIELD_NAME_CHARS else text[:MAX_FIELD_NAME_CHARS] + "..."
