"""PUT bodies rendered at dispatch leave the plan's shared request untouched (jobs with equal
bodies share one ``request`` object) and carry this job's links and secrets only."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path

from fleet.engine.body import RequestBodies
from fleet.engine.options import EngineOptions
from fleet.plan.model import Job
from fleet.redact import SecretMask
from fleet.types import MachineRef, SecretRef, StreamCapture

SHARED = {"location": "eastus", "properties": {
    "source": {"script": "echo hi"}, "parameters": [{"name": "a", "value": "1"}],
    "timeoutInSeconds": 60}}


class Links:
    """The store's SAS links, as a fake at the ``OutputStore`` seam."""

    def blob_sas_url(self, blob_name: str, *, expires_at: datetime) -> str:
        return f"https://acct/c/{blob_name}?sig=x"

    async def upload_script(self, blob_name: str, text: str, *, expires_at: datetime) -> str:
        return f"https://acct/c/{blob_name}?sp=r&sig=y"

    async def exists(self, blob_name: str) -> bool:
        return False

    async def download(self, blob_name: str, dest: Path, *, max_bytes: int,
                       relative_to: Path | None = None, timeout_s: float = 60.0) -> StreamCapture:
        return StreamCapture()


def job(name: str) -> Job:
    return Job(machine=MachineRef("sub", "rg", name), step="s", step_index=0, wave=0,
               run_command_name="rc", output_blob=f"{name}/s.out", error_blob=f"{name}/s.err",
               request=SHARED, timeout_s=60,
               protected_parameters=(("token", SecretRef("literal", "s3cret-value-1")),))


async def test_rendering_leaves_the_shared_request_as_it_was() -> None:
    before = copy.deepcopy(SHARED)
    bodies = RequestBodies(storage=Links(), options=EngineOptions(),
                           resolve_secret=lambda ref: ref.ref, mask=SecretMask())
    one, two = await bodies.render(job("web-01")), await bodies.render(job("web-02"))
    assert SHARED == before
    assert one["properties"]["outputBlobUri"] == "https://acct/c/web-01/s.out?sig=x"
    assert two["properties"]["errorBlobUri"] == "https://acct/c/web-02/s.err?sig=x"
    assert one["properties"]["protectedParameters"] == [{"name": "token", "value": "s3cret-value-1"}]
    assert one["properties"]["parameters"] == SHARED["properties"]["parameters"]  # type: ignore[index]
    assert len(bodies.mask) > 0
