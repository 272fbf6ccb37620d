"""Production mode: a rollout as one Temporal workflow, its waves cut into shards that run as
activities on any number of ``fleet worker`` processes (README "Production mode (Temporal)").

Layer "execution", beside ``fleet.engine``: a shard activity runs the engine for its machines.
Needs the ``temporal`` extra (``pip install 'fleet[temporal]'``); nothing here is imported by
the embedded mode.
"""

from __future__ import annotations

__all__: list[str] = []
