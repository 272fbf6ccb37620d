"""A job's PUT body, rendered at dispatch: SAS links, uploaded script, secrets resolved.

The plan holds request bodies without secrets or blob links; they are added here, as late as
possible, and every secret resolved is remembered in the run's ``SecretMask`` so outputs,
excerpts and reasons never show it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fleet.engine.options import EngineOptions
from fleet.errors import FleetError
from fleet.plan.model import Job
from fleet.redact import SecretMask
from fleet.types import SecretRef

if TYPE_CHECKING:
    from fleet.blobs.protocol import OutputStore

__all__ = ["RequestBodies", "request_sha256"]


def request_sha256(job: Job) -> str:
    """Hash of the rendered request without secrets or blob links (for the audit trail)."""
    data = json.dumps(job.request, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


class RequestBodies:
    """Renders PUT bodies; ``mask`` knows every secret it resolved."""

    def __init__(
        self,
        *,
        storage: OutputStore | None,
        options: EngineOptions,
        resolve_secret: Callable[[SecretRef], str],
        mask: SecretMask,
    ) -> None:
        self._storage = storage
        self._options = options
        self._resolve = resolve_secret
        self.mask = mask

    async def render(self, job: Job) -> dict[str, Any]:
        # Only ``properties`` gets keys added (values are replaced, never changed in place):
        # two shallow copies keep the plan's body intact without a deep copy per job.
        body: dict[str, Any] = dict(job.request)
        props: dict[str, Any] = dict(body.get("properties") or {})
        body["properties"] = props
        expires = datetime.now(UTC) + timedelta(
            seconds=job.timeout_s + self._options.timeout_margin_s + self._options.sas_margin_s
        )
        if self._storage is not None:
            props["outputBlobUri"] = self._storage.blob_sas_url(job.output_blob, expires_at=expires)
            props["errorBlobUri"] = self._storage.blob_sas_url(job.error_blob, expires_at=expires)
            if job.script_upload is not None:
                script_blob = job.output_blob.rsplit(".", 2)[0] + ".script"
                props["source"] = {
                    "scriptUri": await self._storage.upload_script(
                        script_blob, job.script_upload, expires_at=expires
                    )
                }
        elif job.script_upload is not None:
            props["source"] = {"script": job.script_upload}
        if job.protected_parameters:
            props["protectedParameters"] = [
                {"name": name, "value": self._secret(ref)} for name, ref in job.protected_parameters
            ]
        if job.run_as_password is not None:
            props["runAsPassword"] = self._secret(job.run_as_password)
        return body

    def _secret(self, ref: SecretRef) -> str:
        value = self._resolve(ref)
        self.mask.add(value)
        return value

    def learn_secrets(self, job: Job) -> None:
        """Know this job's secrets before reading its output, also when it was sent by an
        earlier process (resume): a secret that cannot be resolved now is simply not added."""
        refs = [ref for _, ref in job.protected_parameters]
        if job.run_as_password is not None:
            refs.append(job.run_as_password)
        for ref in refs:
            with contextlib.suppress(FleetError):
                self.mask.add(self._resolve(ref))
