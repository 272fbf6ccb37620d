"""``-e/--extra-vars``: ``key=value`` pairs (several per option, shell-quoted), a JSON object,
or ``@file.yaml`` (a YAML or JSON mapping). Later options win over earlier ones."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fleet.errors import InputError, UsageError
from fleet.inventory.loader import plain
from fleet.safeio import load_json
from fleet.yamlsrc import load_yaml

__all__ = ["parse_extra_vars"]


class ExtraVarsError(InputError):
    """A bad ``@file`` given to -e (an InputError: names file and line)."""


def parse_extra_vars(items: Iterable[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in items:
        text = item.strip()
        if text.startswith("@"):
            data = load_yaml(Path(text[1:]), error=ExtraVarsError)
            if data is None:
                continue
            if not isinstance(data, dict):
                raise ExtraVarsError("extra vars file must hold a mapping", file=text[1:])
            merged.update(plain(data))
        elif text.startswith("{"):
            data = load_json(text, error=ExtraVarsError, field="-e")
            if not isinstance(data, dict):
                raise UsageError("-e: JSON extra vars must be an object")
            merged.update(data)
        else:
            try:
                words = shlex.split(text)
            except ValueError as exc:
                raise UsageError(f"-e: {exc}") from exc
            for word in words:
                key, eq, value = word.partition("=")
                if not eq or not key:
                    raise UsageError(f"-e: expected key=value, JSON or @file, got {word!r}")
                merged[key] = value
    return merged
