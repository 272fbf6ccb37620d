"""The seams are Protocols (fleet.arm.protocol, fleet.blobs.protocol, the transport, the token
provider, the clock): the concrete classes and the tests' fakes must fit them.

Statically: ``_static_conformance`` is never called; mypy checks its assignments
(`.venv/bin/mypy tests/unit/test_seams.py`). At run time: ``isinstance`` on the
``runtime_checkable`` Protocols (names only, not signatures: that is mypy's part).
"""

from __future__ import annotations

import pytest

from fleet.arm.client import ArmClient
from fleet.arm.credentials import DevTokenProvider, TokenProvider
from fleet.arm.graph import GraphClient
from fleet.arm.models import MachineInfo
from fleet.arm.protocol import (
    AdaptiveLimit,
    ArmApi,
    ArmConnection,
    GraphQuery,
    MachineReader,
    RunCommands,
)
from fleet.arm.throttle import ConcurrencyController
from fleet.arm.transport import AiohttpTransport, Transport
from fleet.blobs.protocol import OutputStore, RunStore
from fleet.blobs.store import RunStorage
from fleet.clock import Clock, MonotonicClock, ScaledClock
from fleet.engine.preflight import preflight
from fleet.engine.session import Connection
from fleet.types import MachineRef
from tests.unit.arm.fakes import ENDPOINT, FakeClock, FakeTransport, ScriptedTokens, respond
from tests.unit.engine.fakes import FakeArm, FixedLimit

# Azurite's published development key: a syntactically valid connection string, no I/O.
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


def _static_conformance(
    arm: ArmClient, graph: GraphClient, storage: RunStorage, connection: Connection,
    controller: ConcurrencyController, transport: AiohttpTransport,
) -> None:
    """Never called: mypy reports a line here when a class stops fitting its seam."""
    _arm: ArmApi = arm
    _reader: MachineReader = arm
    _commands: RunCommands = arm
    _limit: AdaptiveLimit = controller
    _graph: GraphQuery = graph
    _store: OutputStore = storage
    _run_store: RunStore = storage
    _connection: ArmConnection = connection
    _transport: Transport = transport
    _fake_transport: Transport = FakeTransport(lambda sent: respond(200), FakeClock())
    _tokens: TokenProvider = ScriptedTokens()
    _dev: TokenProvider = DevTokenProvider()
    _clocks: list[Clock] = [FakeClock(), MonotonicClock(), ScaledClock(0.5)]
    _fake: ArmApi = FakeArm()


async def test_the_real_clients_fit_their_protocols() -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda sent: respond(200, {"data": []}), clock)
    arm = ArmClient(endpoint=ENDPOINT, transport=transport, credential=ScriptedTokens(),
                    clock=clock)
    graph = GraphClient(endpoint=ENDPOINT, transport=transport, credential=ScriptedTokens(),
                        clock=clock)
    assert isinstance(arm, ArmApi) and isinstance(arm, MachineReader)
    assert isinstance(arm, RunCommands) and isinstance(arm.concurrency_for("s1"), AdaptiveLimit)
    assert isinstance(graph, GraphQuery) and not isinstance(graph, ArmApi)
    storage = RunStorage.from_connection_string(AZURITE, run_id="seams")
    try:
        assert isinstance(storage, OutputStore) and isinstance(storage, RunStore)
    finally:
        await storage.aclose()


def test_the_fakes_fit_and_a_partial_fake_does_not() -> None:
    assert isinstance(FakeArm(), ArmApi) and isinstance(FixedLimit(), AdaptiveLimit)

    class OnlyReads:
        async def get_run_command(self, m: MachineRef, name: str) -> None:
            return None

    assert not isinstance(OnlyReads(), RunCommands)  # the runtime check has teeth


def _machine(name: str, *, status: str = "Connected", agent: str = "1.40.0",
             os_type: str = "linux") -> MachineInfo:
    ref = MachineRef(subscription_id="s1", resource_group="rg", name=name, os_type=os_type)
    return MachineInfo(ref=ref, status=status, agent_version=agent)


@pytest.mark.parametrize("threshold", [1, 100], ids=["list", "get-each"])
async def test_preflight_through_the_reader_seam(threshold: int) -> None:
    """Preflight needs only a ``MachineReader``: the in-memory fake drives every verdict,
    whether it lists the resource group or GETs each machine."""
    arm = FakeArm()
    for info in (_machine("ok"), _machine("off", status="Disconnected"),
                 _machine("old", agent="1.20.0"), _machine("win", os_type="windows")):
        arm.add(info)
    wanted = [MachineRef(subscription_id="s1", resource_group="rg", name=n, os_type="linux")
              for n in ("ok", "off", "old", "win", "gone")]
    seen = await preflight(arm, wanted, min_agent=(1, 33), list_threshold=threshold)
    reasons = {ref.name: seen[ref.key].reason for ref in wanted}
    assert reasons == {
        "ok": None,
        "off": "machine status is Disconnected",
        "old": "agent version 1.20.0 is older than 1.33",
        "win": "OS is windows, the inventory says linux",
        "gone": "machine not found in ARM",
    }
    listed = [c for c in arm.calls if c.startswith("list_machines")]
    assert len(listed) == (1 if threshold == 1 else 0)

