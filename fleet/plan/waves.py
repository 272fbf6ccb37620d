"""Assign every selected machine to exactly one wave, deterministically.

Order first: with seed 0 machines keep inventory order; any other seed orders them by
``sha256(f"{seed}:{resource id}")``, a stable shuffle that does not depend on Python's RNG.
Then the waves, in the order written:

- a count ``N`` takes the next N machines not yet in a wave (fewer if fewer are left);
- a percent ``P%`` takes the next ``floor(P * total / 100)`` machines, where total is the
  number of machines selected (after ``--limit`` and the ``os`` filter). A percent that rounds
  down to 0 while machines are left is an error: write a count instead;
- a host pattern takes every selected machine it matches that is not yet in a wave.

Machines left over after the last wave are an error (end with ``"100%"`` or ``all``). Waves
that come after every machine is placed, or patterns that match no remaining machine, are
dropped with a warning (common with ``--limit``).
"""

from __future__ import annotations

import hashlib

from fleet.errors import PlaybookError, SelectionError
from fleet.inventory import Host, Inventory
from fleet.inventory.patterns import select_hosts
from fleet.playbook.model import WaveSpec

__all__ = ["assign_waves", "order_hosts"]


def order_hosts(hosts: list[Host], seed: int) -> list[Host]:
    if seed == 0:
        return list(hosts)
    return sorted(hosts, key=lambda h: hashlib.sha256(f"{seed}:{h.machine.key}".encode()).digest())


def assign_waves(
    hosts: list[Host], specs: tuple[WaveSpec, ...], inventory: Inventory, *, seed: int, file: str
) -> tuple[list[tuple[str, list[Host]]], list[str]]:
    """``([(label, hosts), ...], warnings)``; raises PlaybookError for bad wave arithmetic."""
    ordered = order_hosts(hosts, seed)
    if not specs:
        return [("all", ordered)], []
    total = len(ordered)
    remaining = list(ordered)
    waves: list[tuple[str, list[Host]]] = []
    warnings: list[str] = []
    for index, spec in enumerate(specs):
        where = f"rollout.waves[{index}]"
        if not remaining:
            warnings.append(f"{where} ({spec.label}) is empty: every machine is already in an "
                            "earlier wave; dropped")
            continue
        if spec.kind == "pattern":
            try:
                matched = {h.name for h in select_hosts(inventory, str(spec.value), field=where)}
            except SelectionError as exc:
                raise PlaybookError(exc.message, file=file, line=spec.line, field=where,
                                    hint=exc.hint) from exc
            taken = [h for h in remaining if h.name in matched]
            if not taken:
                warnings.append(f"{where} ({spec.label}) matches none of the remaining "
                                "selected machines; dropped")
                continue
        else:
            assert isinstance(spec.value, int)
            size = spec.value if spec.kind == "count" else spec.value * total // 100
            if size == 0:
                # As Ansible's serial and SSM's MaxConcurrency do: a percent is at least one.
                size = 1
                warnings.append(f"{where} ({spec.label}) of {total} selected machines rounds "
                                "down to 0: this wave takes 1 machine")
            taken = remaining[:size]
        taken_names = {h.name for h in taken}
        remaining = [h for h in remaining if h.name not in taken_names]
        waves.append((spec.label, taken))
    if remaining:
        sample = ", ".join(h.name for h in remaining[:3])
        raise PlaybookError(
            f"the waves leave {len(remaining)} of {total} machines out (e.g. {sample})",
            file=file, line=specs[-1].line, field="rollout.waves",
            hint='end the list with "100%" or all',
        )
    return waves, warnings
