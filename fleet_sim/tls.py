"""A throwaway certificate authority (trustme) for serving HTTPS on loopback, so the official SDK
(which refuses bearer tokens over plain HTTP) can talk to the simulator."""

from __future__ import annotations

import ssl
from pathlib import Path

from fleet.errors import SimulatorError

__all__ = ["make_server_tls"]


def make_server_tls(ca_file: Path) -> ssl.SSLContext:
    """Create a CA, write its PEM to ``ca_file``, and return a server context whose certificate
    is valid for 127.0.0.1, ::1 and localhost."""
    try:
        import trustme  # the simulator extra: pip install 'fleet[sim]'
    except ImportError as error:
        raise SimulatorError(
            "--tls needs the simulator extra (trustme): pip install 'fleet[sim]'") from error
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "::1", "localhost")
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
