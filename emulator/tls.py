"""TLS material: a local CA (trustme) and a server certificate for the listening host.

ARM clients refuse bearer tokens over plain http, so the emulator speaks HTTPS and clients trust its CA
through configuration (``verify=ssl.create_default_context(cafile=...)``, ``connection_verify=...``).
With a state dir the CA and certificate are kept and reused, so a restarted emulator is still trusted.
The private key is readable by its owner only (0600), created so from the start rather than chmod-ed
after being written.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def _names(host: str) -> list[str]:
    names = ["127.0.0.1", "localhost", "::1"]
    if host not in names and host not in ("0.0.0.0", "::"):
        names.append(host)
    return names


def ensure_tls(host: str, directory: Path) -> TlsFiles:
    """CA and server certificate files in ``directory`` (created, or reused if they match ``host``)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    meta = directory / "tls.json"
    names = _names(host)
    if all(p.exists() for p in (files.ca, files.cert, files.key, meta)) and _names_in(meta) == names:
        files.key.chmod(0o600)  # keys written by older versions were world-readable
        return files
    ca = trustme.CA(organization_name="Azure OpenAI emulator")
    identities = []
    for name in names:
        try:
            identities.append(str(ipaddress.ip_address(name)))
        except ValueError:
            identities.append(name)
    server = ca.issue_cert(*identities)
    ca.cert_pem.write_to_path(str(files.ca))
    _write_private(files.key, server.private_key_pem.bytes())
    with files.cert.open("wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    meta.write_text(json.dumps({"names": names}))
    return files


def _names_in(meta: Path) -> object:
    try:
        return json.loads(meta.read_text()).get("names")
    except (ValueError, AttributeError):  # a damaged tls.json just means "issue new files"
        return None


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
