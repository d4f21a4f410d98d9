"""Authentication as Azure checks it, minus the cryptography.

Data plane: an ``api-key`` header, an ``Authorization: Bearer`` token, or both (openai 1.x sends both).
Any value is accepted unless ``--api-key`` is set. Then an ``api-key`` header must match, and a bearer
token must either equal the key (the v1 surface takes the key as a bearer token, as the OpenAI client sends
it) or look like an Entra ID token (a JWT: three dot-separated parts; its signature is not checked).
ARM: a bearer token is required (any value).
"""

from __future__ import annotations

from starlette.requests import Request

from emulator.errors import ApiError, ArmError

DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def check_data_plane(request: Request, api_key: str | None) -> None:
    key = request.headers.get("api-key")
    token = _bearer(request)
    if key is None and not token:
        raise ApiError(401, "401", DENIED)
    if key is not None and (not key or (api_key is not None and key != api_key)):
        raise ApiError(401, "401", DENIED)
    if key is None and token and api_key is not None and token != api_key and token.count(".") != 2:
        raise ApiError(401, "401", DENIED)


def check_arm(request: Request) -> None:
    token = _bearer(request)
    if token is None:
        raise ArmError(
            401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
    if not token:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid: the 'Authorization' header must be 'Bearer <token>'.",
        )
