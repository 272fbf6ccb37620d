"""Validate JSON bodies against the official OpenAPI definitions (jsonschema, resolving ``$ref``s
into the spec files, common-types v3 included). The spec folder is ``$FLEET_SPEC_DIR`` or the
copy vendored in ``tests/data/spec`` (provenance and licence: tests/data/README.md)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO = Path(__file__).resolve().parents[2]
RC_DIR = "specification/hybridcompute/resource-manager/Microsoft.HybridCompute"
COMMON_TYPES = "specification/common-types/resource-management/v3/types.json"
VENDORED = REPO / "tests" / "data" / "spec"
EXAMPLE = f"{RC_DIR}/stable/2025-01-13/examples/machine/Machines_ListBySubscription.json"
SPEC_FILES = {
    "2024-11-10-preview": f"{RC_DIR}/preview/2024-11-10-preview/HybridCompute.json",
    "2025-01-13": f"{RC_DIR}/stable/2025-01-13/HybridCompute.json",
}


# Every file the tests resolve (and so every file tests/data/spec must hold, and no more).
RESOLVED = (*SPEC_FILES.values(), COMMON_TYPES, EXAMPLE)


def spec_dir() -> Path:
    """The spec folder; a missing file is an error (the vendored copy is always there)."""
    root = Path(os.environ.get("FLEET_SPEC_DIR") or VENDORED)
    missing = [f for f in RESOLVED if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: the OpenAPI spec lacks {', '.join(missing)}")
    return root


def _retrieve(uri: str) -> Resource[Any]:
    path = Path(uri.removeprefix("file://"))
    return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4)


@cache
def validator(api_version: str, definition: str) -> Draft4Validator:
    root = spec_dir()
    # ErrorResponse is ARM's common type, not HybridCompute's.
    file = COMMON_TYPES if definition == "ErrorResponse" else SPEC_FILES[api_version]
    path = (root / file).resolve()
    schema = {"$ref": f"file://{path}#/definitions/{definition}"}
    return Draft4Validator(schema, registry=Registry(retrieve=_retrieve))  # type: ignore[call-arg]


def without_nulls(value: Any) -> Any:
    """JSON nulls mean "absent" here: the spec's own Machines_ListBySubscription example returns
    nulls for string fields, which a strict draft-4 check would reject."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def errors(api_version: str, definition: str, body: Any) -> list[str]:
    found = validator(api_version, definition).iter_errors(without_nulls(body))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
