"""Azure clients, built once per process from the app settings.

Managed identity (DefaultAzureCredential) is the default for every service. An API key is an opt-in
for the Azure OpenAI data plane only. ``AZURE_AUTH_MODE=emulator`` swaps in a fixed local token and is
refused by the settings unless every endpoint is a loopback address, so it can never reach Azure.
Clients hold connection pools and token caches, which is why they are reused across invocations.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from functools import lru_cache
from typing import Any

import httpx2
from azure.core.credentials import AccessToken, TokenCredential
from azure.identity import DefaultAzureCredential, get_bearer_token_provider
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.storage.blob import BlobServiceClient, LinearRetry
from openai import AsyncAzureOpenAI, AzureOpenAI

from shared.azure.deployments import Account
from shared.azure.throttling import ThrottlingTransport
from shared.domain.settings import AppSettings, get_settings
from shared.storage.artifacts import ArtifactStore

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
# The SDKs retry transient errors themselves a few times (honouring Retry-After); longer outages are
# left to Durable retries so that no worker sleeps through them.
SDK_MAX_RETRIES = 3
REQUEST_TIMEOUT_SECONDS = 120.0
# Blob calls made while an HTTP caller waits (see request_artifact_store).
REQUEST_RETRIES = 1
REQUEST_CONNECT_TIMEOUT_SECONDS = 2
REQUEST_READ_TIMEOUT_SECONDS = 3


class EmulatorCredential:
    """A fixed token for the local emulator, which accepts any bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("local-emulator-token", int(time.time()) + 3600)


@lru_cache(maxsize=1)
def credential() -> TokenCredential:
    if get_settings().azure_auth_mode == "emulator":
        return EmulatorCredential()
    return DefaultAzureCredential()


def _ssl_context(settings: AppSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.tls_ca_bundle:
        context.load_verify_locations(cafile=settings.tls_ca_bundle)
    return context


def _openai_auth(settings: AppSettings) -> dict[str, Any]:
    if settings.azure_openai_api_key is not None:
        return {"api_key": settings.azure_openai_api_key.get_secret_value()}
    cred = credential()
    if isinstance(cred, EmulatorCredential):
        return {"azure_ad_token_provider": lambda: cred.get_token(COGNITIVE_SCOPE).token}
    return {"azure_ad_token_provider": get_bearer_token_provider(cred, COGNITIVE_SCOPE)}


def _openai_options(settings: AppSettings) -> dict[str, Any]:
    return {
        "azure_endpoint": settings.azure_openai_endpoint,
        "api_version": settings.azure_openai_api_version,
        "max_retries": SDK_MAX_RETRIES,
        "timeout": REQUEST_TIMEOUT_SECONDS,
        **_openai_auth(settings),
    }


@lru_cache(maxsize=1)
def openai_client() -> AzureOpenAI:
    """Synchronous client for files and fine-tuning jobs (called from thread-pool activities)."""
    settings = get_settings()
    return AzureOpenAI(http_client=httpx2.Client(verify=_ssl_context(settings)), **_openai_options(settings))


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncAzureOpenAI] = (
    weakref.WeakKeyDictionary()
)


def async_openai_client() -> AsyncAzureOpenAI:
    """Async client for rollouts; one per event loop because its connection pool is bound to one."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        settings = get_settings()
        client = AsyncAzureOpenAI(
            http_client=httpx2.AsyncClient(verify=_ssl_context(settings)), **_openai_options(settings)
        )
        _async_clients[loop] = client
    return client


_rollout_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncAzureOpenAI] = (
    weakref.WeakKeyDictionary()
)


def rollout_openai_client() -> AsyncAzureOpenAI:
    """Async client for rollouts' chat calls: paced to each deployment's limit, 429s waited out and
    counted (shared/azure/throttling.py). The SDK's own retries are off, the transport does them."""
    loop = asyncio.get_running_loop()
    client = _rollout_clients.get(loop)
    if client is None:
        settings = get_settings()
        transport = ThrottlingTransport(httpx2.AsyncHTTPTransport(verify=_ssl_context(settings)))
        client = AsyncAzureOpenAI(
            http_client=httpx2.AsyncClient(transport=transport),
            **{**_openai_options(settings), "max_retries": 0},
        )
        _rollout_clients[loop] = client
    return client


@lru_cache(maxsize=1)
def request_openai_client() -> AzureOpenAI:
    """For HTTP handlers (GET /api/preflight): one quick retry and short timeouts, so an unreachable
    endpoint is an answer within seconds rather than after the SDK's minutes of retries."""
    settings = get_settings()
    options = {
        **_openai_options(settings),
        "max_retries": REQUEST_RETRIES,
        "timeout": REQUEST_CONNECT_TIMEOUT_SECONDS + REQUEST_READ_TIMEOUT_SECONDS,
    }
    return AzureOpenAI(http_client=httpx2.Client(verify=_ssl_context(settings)), **options)


def _management_client(**options: Any) -> CognitiveServicesManagementClient:
    settings = get_settings()
    if settings.tls_ca_bundle:
        options["connection_verify"] = settings.tls_ca_bundle
    return CognitiveServicesManagementClient(
        credential(), settings.azure_subscription_id, base_url=settings.arm_endpoint, **options
    )


@lru_cache(maxsize=1)
def management_client() -> CognitiveServicesManagementClient:
    return _management_client(retry_total=SDK_MAX_RETRIES)


def _artifact_store(**options: Any) -> ArtifactStore:
    settings = get_settings()
    if settings.artifacts_storage_connection_string is not None:
        service = BlobServiceClient.from_connection_string(
            settings.artifacts_storage_connection_string.get_secret_value(), **options
        )
    else:
        service = BlobServiceClient(
            settings.artifacts_blob_endpoint or "", credential=credential(), **options
        )
    return ArtifactStore(service.get_container_client(settings.artifacts_container))


@lru_cache(maxsize=1)
def artifact_store() -> ArtifactStore:
    """For activities: the SDK's default retries ride out a storage blip (Durable retries the rest)."""
    return _artifact_store()


@lru_cache(maxsize=1)
def request_artifact_store() -> ArtifactStore:
    """For HTTP handlers, where a caller is waiting: with storage unreachable the SDK's defaults
    (three retries 15 to 24 s apart, 20 s connect and 60 s read timeouts) hold a request for minutes,
    so here one quick retry and short timeouts make an outage an error within seconds."""
    return _artifact_store(
        retry_policy=LinearRetry(backoff=1, retry_total=REQUEST_RETRIES, random_jitter_range=1),
        connection_timeout=REQUEST_CONNECT_TIMEOUT_SECONDS,
        read_timeout=REQUEST_READ_TIMEOUT_SECONDS,
    )


@lru_cache(maxsize=1)
def openai_account() -> Account:
    """The Azure OpenAI account whose deployments the app manages (through ARM)."""
    settings = get_settings()
    return Account(management_client(), settings.azure_resource_group, settings.azure_openai_account)


@lru_cache(maxsize=1)
def request_openai_account() -> Account:
    """The same account for HTTP handlers, where a caller is waiting: one quick retry, short timeouts."""
    settings = get_settings()
    client = _management_client(
        retry_total=REQUEST_RETRIES,
        connection_timeout=REQUEST_CONNECT_TIMEOUT_SECONDS,
        read_timeout=REQUEST_READ_TIMEOUT_SECONDS,
    )
    return Account(client, settings.azure_resource_group, settings.azure_openai_account)
