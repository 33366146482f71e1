"""Throw-away certificates for TLS tests: a private CA (``trustme``) and a server certificate it signed.

Clients then verify the emulator with ``verify=ca_path`` exactly as they would verify a company's
internal Airbyte behind a private CA.
"""

from __future__ import annotations

import os
from pathlib import Path

import trustme

__all__ = ["make_self_signed_ca"]


def make_self_signed_ca(directory: str | os.PathLike[str]) -> tuple[str, str, str]:
    """Write ``ca.pem``, ``server.pem`` and ``server-key.pem`` into ``directory``.

    The server certificate names ``localhost``, ``127.0.0.1`` and ``::1``. Answers
    ``(ca_cert_path, server_cert_path, server_key_path)``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Airbyte emulator")
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    paths = out / "ca.pem", out / "server.pem", out / "server-key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    server.cert_chain_pems[0].write_to_path(str(paths[1]))
    server.private_key_pem.write_to_path(str(paths[2]))
    os.chmod(paths[2], 0o600)
    return str(paths[0]), str(paths[1]), str(paths[2])
