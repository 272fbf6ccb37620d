"""Playbooks: what to run, where, and how to roll it out (validated, still templates)."""

from __future__ import annotations

from fleet.playbook.loader import load_playbook
from fleet.playbook.model import (
    Param,
    Playbook,
    RolloutSpec,
    RunAsSpec,
    StepSpec,
    SuccessSpec,
    Tmpl,
    WaveSpec,
)

__all__ = [
    "Param",
    "Playbook",
    "RolloutSpec",
    "RunAsSpec",
    "StepSpec",
    "SuccessSpec",
    "Tmpl",
    "WaveSpec",
    "load_playbook",
]
