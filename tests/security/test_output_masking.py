"""Issue #13 C8: a secret a script prints is masked everywhere fleet writes or prints it.

The script (real bash on the simulator's shell executor) prints its protected parameter in the
forms scripts print secrets: ``set -x`` traces, JSON, URL-encoded, hex, base64 at all three
alignments, on stdout and stderr; and token-shaped strings fleet never knew (a bearer token, a
SAS ``sig=``, a JWT, an ``AccountKey``). Every file of the run folder (journal, reports,
``output/``), the log file and the terminal are searched for every form.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from fleet.redact import SecretMask
from fleet_sim.azurite import Azurite
from fleet_sim.config import Behaviour
from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer
from tests.fixtures.sim import FAST
from tests.sweep.helpers import shell_profile

SECRET = 'H7"prot\\ect/val+ue&kx47 Zq'
PASSWORD = "H7-runas-Pa55word-zq81"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoNy10ZXN0In0.c2lnbmF0dXJlLWg3LXRlc3Q"
FOREIGN = {  # token-shaped strings fleet never resolved: masked by shape
    "bearer": "Authorization: Bearer h7BearerTokenValue0123456789",
    "sig": "https://acct.blob.core.windows.net/c/b?sv=2024&sig=h7SasSignature0123%2Bq%3D",
    "jwt": JWT,
    "key": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=h7AccountKeyValue0123456789==;",
}
FOREIGN_VALUES = ("h7BearerTokenValue0123456789", "h7SasSignature0123", JWT,
                  "h7AccountKeyValue0123456789")



def _split(text: str) -> str:
    """``text`` with each token value cut by ``''``: whole in the output, never in the script
    (which the plan holds, as it should)."""
    for value in FOREIGN_VALUES:
        text = text.replace(value, value[:8] + "''" + value[8:])
    return text


SCRIPT = r"""
set -x
echo "token is $token"
python3 -c 'import json, os; print(json.dumps({"t": os.environ["token"]}))'
python3 -c 'import os, urllib.parse; print("q=" + urllib.parse.quote(os.environ["token"], safe=""))'
printf '%s' "$token" | od -An -tx1 | tr -d ' \n'; echo
for pad in "" x xy; do printf '%s%s' "$pad" "$token" | base64 -w0; echo; done
echo "stderr has it too: $token" >&2
""" + "\n".join(f"echo '{v}'" for v in (_split(t) for t in FOREIGN.values())) + "\n"


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, json.dumps(secret)[1:-1].encode(), quote(secret, safe="").encode(),
            raw.hex().encode(), raw.hex().upper().encode()]


def _base64_leaks(data: bytes, secret: str) -> list[str]:
    """Any base64 run in ``data`` that decodes (at any offset) to text holding the secret's
    middle: masking may keep 2 characters at either end, never more."""
    middle = secret.encode()[2:-2]
    leaks = []
    for match in re.finditer(rb"[A-Za-z0-9+/]{12,}={0,2}", data):
        run = match.group(0).rstrip(b"=")
        for start in range(4):
            piece = run[start:]
            piece = piece[: len(piece) - len(piece) % 4]
            try:
                if middle in base64.b64decode(piece):
                    leaks.append(match.group(0).decode()[:40])
            except binascii.Error:
                continue
    return leaks


def _inputs(tmp_path: Path, sim: SimServer) -> tuple[Path, Path]:
    inventory = tmp_path / "inventory.yaml"
    write_inventory(sim.machines, inventory)
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(yaml.safe_dump({
        "name": "masking", "hosts": "all", "script": SCRIPT,
        "protected_parameters": {"token": '{{ secret("env:H7_PROTECTED") }}'},
        "run_as": {"user": "svc", "password": '{{ secret("env:H7_PASSWORD") }}'},
        "timeout": "1h",  # simulated: 36 s at the test's time scale, a hang guard only
    }))  # fmt: skip
    return inventory, playbook


async def _run_cli(tmp_path: Path, sim: SimServer, storage: str | None) -> dict[str, bytes]:
    inventory, playbook = _inputs(tmp_path, sim)
    run_dir, log = tmp_path / "run", tmp_path / "fleet.jsonl"
    env = {**os.environ, "H7_PROTECTED": SECRET, "H7_PASSWORD": PASSWORD,
           "FLEET_ARM_ENDPOINT": sim.arm_endpoint, "FLEET_CREDENTIAL": "dev",
           "FLEET_TIME_SCALE": "0.01"}
    env.pop("FLEET_STORAGE_CONNECTION_STRING", None)
    if storage is not None:
        env["FLEET_STORAGE_CONNECTION_STRING"] = storage
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fleet", "run", str(playbook), "-i", str(inventory), "--yes", "-vv",
        "--log-file", str(log), "--run-dir", str(run_dir), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, stderr.decode()[-2000:]
    report = json.loads((run_dir / "report.json").read_text())
    excerpts = " ".join(row["output"]["excerpt"] for row in report["rows"])
    assert "token is ***" in excerpts  # the run really printed it, and it was masked
    written = {"stdout": stdout, "stderr": stderr}
    for path in [*run_dir.rglob("*"), log]:
        if path.is_file():
            written[str(path.relative_to(tmp_path))] = path.read_bytes()
    assert any("output/" in name for name in written)
    return written


def _assert_clean(written: dict[str, bytes]) -> None:
    for name, data in written.items():
        for secret in (SECRET, PASSWORD):
            for form in _forms(secret):
                assert form not in data, f"{form[:8]!r}... in {name}"
            assert _base64_leaks(data, secret) == [], f"base64 of the secret in {name}"
        for value in FOREIGN_VALUES:
            assert value.encode() not in data, f"{value[:10]}... in {name}"


@pytest.mark.parametrize("with_storage", [True, False], ids=["blobs", "instance-view"])
async def test_secrets_printed_by_the_script_are_masked_everywhere(
    tmp_path: Path, azurite: Azurite, with_storage: bool
) -> None:
    config = dataclasses.replace(FAST, machines=2, profile=dataclasses.replace(
        shell_profile(), behaviour=Behaviour(lro_retry_after_s=0)))
    async with SimServer(config) as sim:
        written = await _run_cli(tmp_path, sim, azurite.connection_string if with_storage else None)
    _assert_clean(written)


def test_mask_covers_encodings_and_keeps_other_bytes() -> None:
    mask = SecretMask()
    mask.add(SECRET)
    mask.add("abc")  # too short to mask: documented
    raw = b"\xff\x00 keep abc " + SECRET.encode() + b" \x80tail"
    masked = mask.mask_bytes(raw)
    assert masked == b"\xff\x00 keep abc *** \x80tail"
    utf16 = ("\ufeffline " + SECRET + "\n").encode("utf-16-le")
    assert mask.mask_bytes(utf16).decode("utf-16") == "line ***\n"
    bare16 = ("x" + SECRET).encode("utf-16-le")  # PowerShell output without its BOM
    assert SECRET.encode("utf-16-le") not in mask.mask_bytes(bare16)
    for pad in ("", "x", "xy", "xyz"):
        encoded = base64.b64encode((pad + SECRET).encode()).decode()
        out = mask.mask_text(f"b64: {encoded}")
        decoded = base64.b64decode(out.split()[1])
        assert SECRET.encode()[2:-2] not in decoded and b"****" in decoded
    for form in _forms(SECRET):
        assert mask.mask_text(f"[{form.decode()}]") == "[***]"
    for text in FOREIGN.values():
        assert not any(v in mask.mask_text(text) for v in FOREIGN_VALUES)
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEh7secret\n-----END RSA PRIVATE KEY-----"
    assert "MIIEh7secret" not in mask.mask_text(pem)
