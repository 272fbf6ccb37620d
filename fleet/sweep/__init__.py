"""Compliance sweeps: many read-only checks per machine in one run command, a compliance
matrix, and drift since the last sweep.

Import the submodules directly (``fleet.sweep.model``, ``.compile``, ``.protocol``, ...); this
package imports nothing so the playbook loader can use the check model without a cycle.
"""

from __future__ import annotations

__all__: list[str] = []
