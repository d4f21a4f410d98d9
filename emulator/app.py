"""The ASGI application: one Starlette app serving the Azure OpenAI data plane (Azure-style and v1
paths), ARM deployments and the admin API, each behind its own auth and error envelope."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator import admin, chat, deployments, files_api, jobs
from emulator.auth import check_arm, check_data_plane
from emulator.config import Config
from emulator.errors import ApiError, ArmError
from emulator.faults import FAULT_MESSAGES, RouteName
from emulator.jsonbody import BodyError
from emulator.ratelimit import RateLimiter
from emulator.store import Store

Handler = Callable[[Request, Store], Awaitable[Response]]
ARM_FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
BUG_MESSAGE = "The server had an error while processing your request (an emulator bug; see its stderr)."
log = logging.getLogger("emulator")


def _data_plane_body_error(exc: BodyError) -> Response:
    code = "413" if exc.status == 413 else "invalidPayload"
    return ApiError(exc.status, code, exc.message).response()


def _arm_body_error(exc: BodyError) -> Response:
    code = "RequestEntityTooLarge" if exc.status == 413 else "InvalidRequestContent"
    return ArmError(exc.status, code, exc.message).response()


def _data_plane(
    handler: Handler, fault_route: RouteName | None, *, needs_api_version: bool
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering ``fault_route``'s faults before ``handler`` runs; None: the handler draws
    its own faults (chat, whose server errors come after its rate limiter, emulator/chat.py)."""

    async def endpoint(request: Request) -> Response:
        store: Store = request.app.state.store
        try:
            if needs_api_version and "api-version" not in request.query_params:
                raise ApiError(404, "404", "Resource not found")
            check_data_plane(request, store.config.api_key)
            fault = None if fault_route is None else store.faults.route_fault(fault_route, request.method)
            if fault is not None:
                store.save()
                raise fault.data_plane_error()
            return await handler(request, store)
        except ApiError as exc:
            return exc.response()
        except BodyError as exc:
            return _data_plane_body_error(exc)
        except Exception:  # last line of defence: a bug still answers in Azure's envelope
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return ApiError(500, "500", BUG_MESSAGE).response()

    return endpoint


async def _arm(request: Request) -> Response:
    store: Store = request.app.state.store
    try:
        check_arm(request)
        fault = store.faults.route_fault("arm", request.method)
        if fault is not None:
            store.save()
            headers = {"Retry-After": str(max(1, round(fault.retry_after)))}
            raise ArmError(
                fault.status, ARM_FAULT_CODES[fault.status], FAULT_MESSAGES[fault.status], headers=headers
            )
        return await deployments.handle(request, store)
    except ArmError as exc:
        return exc.response()
    except BodyError as exc:
        return _arm_body_error(exc)
    except Exception:  # last line of defence: a bug still answers in ARM's envelope
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return ArmError(500, "InternalServerError", BUG_MESSAGE).response()


def _admin(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.store)
        except ApiError as exc:
            return exc.response()
        except BodyError as exc:
            return _data_plane_body_error(exc)
        except Exception:  # last line of defence: a bug still answers in an error envelope
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return ApiError(500, "500", BUG_MESSAGE).response()

    return endpoint


async def _chat_azure(request: Request, store: Store) -> Response:
    return await chat.chat_completions(request, store, request.path_params["deployment"])


async def _chat_v1(request: Request, store: Store) -> Response:
    return await chat.chat_completions(request, store, None)


def _data_plane_routes() -> list[Route]:
    table: list[tuple[str, list[str], Handler, RouteName]] = [
        ("/files", ["POST"], files_api.create_file, "files"),
        ("/files", ["GET"], files_api.list_files, "files"),
        ("/files/{file_id}", ["GET"], files_api.retrieve_file, "files"),
        ("/files/{file_id}", ["DELETE"], files_api.delete_file, "files"),
        ("/files/{file_id}/content", ["GET"], files_api.file_content, "files"),
        ("/fine_tuning/jobs", ["POST"], jobs.create_job, "jobs"),
        ("/fine_tuning/jobs", ["GET"], jobs.list_jobs, "jobs"),
        ("/fine_tuning/jobs/{job_id}", ["GET"], jobs.retrieve_job, "jobs"),
        ("/fine_tuning/jobs/{job_id}", ["DELETE"], jobs.delete_job, "jobs"),
        ("/fine_tuning/jobs/{job_id}/cancel", ["POST"], jobs.cancel_job, "jobs"),
        ("/fine_tuning/jobs/{job_id}/pause", ["POST"], jobs.pause_job, "jobs"),
        ("/fine_tuning/jobs/{job_id}/resume", ["POST"], jobs.resume_job, "jobs"),
        ("/fine_tuning/jobs/{job_id}/events", ["GET"], jobs.list_events, "jobs"),
        ("/fine_tuning/jobs/{job_id}/checkpoints", ["GET"], jobs.list_checkpoints, "jobs"),
    ]
    routes = []
    for prefix, needs_version in (("/openai/v1", False), ("/openai", True)):
        for path, methods, handler, fault in table:
            endpoint = _data_plane(handler, fault, needs_api_version=needs_version)
            routes.append(Route(prefix + path, endpoint, methods=methods))
    routes.append(
        Route(
            "/openai/v1/chat/completions",
            _data_plane(_chat_v1, None, needs_api_version=False),
            methods=["POST"],
        )
    )
    routes.append(
        Route(
            "/openai/deployments/{deployment}/chat/completions",
            _data_plane(_chat_azure, None, needs_api_version=True),
            methods=["POST"],
        )
    )
    return routes


def _admin_routes() -> list[Route]:
    return [
        Route("/_emulator/state", _admin(admin.get_state), methods=["GET"]),
        Route("/_emulator/reset", _admin(admin.reset), methods=["POST"]),
        Route("/_emulator/faults", _admin(admin.get_faults), methods=["GET"]),
        Route("/_emulator/faults", _admin(admin.set_faults), methods=["POST"]),
        Route("/_emulator/faults", _admin(admin.clear_faults), methods=["DELETE"]),
        Route("/_emulator/clock", _admin(admin.clock), methods=["POST"]),
        Route("/_emulator/peaks", _admin(admin.get_peaks), methods=["GET"]),
        Route("/_emulator/peaks", _admin(admin.restart_peaks), methods=["DELETE"]),
        Route("/_emulator/models/retire", _admin(admin.retire_model), methods=["POST"]),
        Route("/_emulator/account", _admin(admin.get_account), methods=["GET"]),
        Route("/_emulator/account", _admin(admin.set_account), methods=["POST"]),
        Route("/_emulator/ratelimit", _admin(admin.get_rate_limits), methods=["GET"]),
        Route("/_emulator/ratelimit", _admin(admin.clear_rate_pressure), methods=["DELETE"]),
        Route("/_emulator/ratelimit/lower", _admin(admin.lower_rate_limits), methods=["POST"]),
        Route("/_emulator/ratelimit/load", _admin(admin.load_rate_limits), methods=["POST"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in the envelope of the surface they were aimed at."""
    assert isinstance(exc, HTTPException)
    if request.url.path.lower().startswith("/subscriptions"):
        return ArmError(
            exc.status_code, "NotFound" if exc.status_code == 404 else "MethodNotAllowed", exc.detail
        ).response()
    return JSONResponse(
        {"error": {"code": str(exc.status_code), "message": exc.detail}}, status_code=exc.status_code
    )


class EmulatedDate:
    """Every answer's ``Date`` header is the emulated clock, as Azure's is its own clock (RFC 9110
    section 6.6.1: the origin server's time), so a client that reads Azure's time reads the emulated
    one. uvicorn's own header (the wall clock) is turned off where the emulator is served."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                date = formatdate(self.store.now(), usegmt=True).encode("latin-1")
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, stamped)


def create_app(config: Config) -> Starlette:
    routes = [
        *_data_plane_routes(),
        Route("/subscriptions/{rest:path}", _arm, methods=["GET", "PUT", "DELETE", "POST", "PATCH"]),
        *_admin_routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.store = Store(config)
    app.add_middleware(EmulatedDate, store=app.state.store)
    app.state.limiter = RateLimiter()
    app.state.limiter.apply(config.lowerings, config.background_loads, time.monotonic())
    return app
