"""Validation of run command request bodies, with ARM-shaped errors (``ArmReject``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ArmReject", "RunCommandInput", "validate_name", "validate_run_command"]

NAME = re.compile(r"^[A-Za-z0-9._-]{1,36}$")
SOURCES = ("script", "scriptUri", "commandId")
STRING_PROPS = ("runAsUser", "runAsPassword", "outputBlobUri", "errorBlobUri")
KNOWN_PROPS = frozenset(
    {"source", "parameters", "protectedParameters", "asyncExecution", "timeoutInSeconds",
     "outputBlobManagedIdentity", "errorBlobManagedIdentity", *STRING_PROPS}
)  # fmt: skip


class ArmReject(Exception):
    """Answer the request with this ARM error instead of acting."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target


@dataclass(frozen=True, slots=True)
class RunCommandInput:
    location: str | None
    tags: dict[str, str] | None
    properties: dict[str, Any] | None  # None: the body had no properties (PATCH of tags)
    password: str | None


def _bad(message: str, target: str, code: str = "InvalidParameter") -> ArmReject:
    return ArmReject(400, code, message, target)


def validate_name(name: str) -> None:
    if not NAME.match(name):
        raise _bad(
            f"The run command name '{name[:80]}' is invalid: use 1 to 36 characters from "
            "letters, digits, '.', '_' and '-'.",
            "runCommandName",
            "InvalidResourceName",
        )


def _parameters(value: Any, target: str, coerce: bool) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _bad("must be an array of {name, value} objects", target)
    result = []
    for index, item in enumerate(value):
        where = f"{target}[{index}]"
        if not isinstance(item, Mapping) or "name" not in item or "value" not in item:
            raise _bad("each parameter needs a 'name' and a 'value'", where)
        name, val = item["name"], item["value"]
        if coerce and isinstance(val, bool):
            val = "true" if val else "false"
        elif coerce and isinstance(val, int | float):
            val = str(val)  # as ARM's deserializer reads the seed's "value": 433
        if not isinstance(name, str) or not isinstance(val, str):
            raise _bad("'name' and 'value' must be strings", where)
        result.append({"name": name, "value": val})
    return result


def validate_run_command(
    body: Any, *, require_location: bool, coerce_values: bool
) -> RunCommandInput:
    if not isinstance(body, Mapping):
        raise ArmReject(400, "InvalidRequestContent", "The request content must be a JSON object.")
    location = body.get("location")
    if location is not None and (not isinstance(location, str) or not location):
        raise _bad("'location' must be a non-empty string", "location")
    if require_location and location is None:
        raise ArmReject(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
            "location",
        )
    tags = body.get("tags")
    if tags is not None and (
        not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values())
    ):
        raise _bad("'tags' must be an object of string values", "tags")
    raw = body.get("properties")
    if raw is None:
        if require_location:
            raise _bad("'properties.source' is required", "properties")
        return RunCommandInput(location, dict(tags) if tags is not None else None, None, None)
    if not isinstance(raw, Mapping):
        raise _bad("'properties' must be an object", "properties")
    props: dict[str, Any] = {k: v for k, v in raw.items() if k in KNOWN_PROPS}
    source = props.get("source")
    if not isinstance(source, Mapping):
        raise _bad(
            "'source' is required: one of script, scriptUri or commandId", "properties.source"
        )
    given = [k for k in SOURCES if source.get(k) is not None]
    if len(given) != 1:
        raise _bad("Use exactly one of script, scriptUri, commandId.", "properties.source")
    if not isinstance(source[given[0]], str):
        raise _bad("must be a string", f"properties.source.{given[0]}")
    props["source"] = {given[0]: source[given[0]]}
    for key in ("parameters", "protectedParameters"):
        if key in props and props[key] is not None:
            props[key] = _parameters(props[key], f"properties.{key}", coerce_values)
        else:
            props.pop(key, None)
    for key in STRING_PROPS:
        if props.get(key) is not None and not isinstance(props[key], str):
            raise _bad("must be a string", f"properties.{key}")
    if "asyncExecution" in props and not isinstance(props["asyncExecution"], bool):
        raise _bad("must be true or false", "properties.asyncExecution")
    timeout = props.get("timeoutInSeconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 <= timeout <= 2**31 - 1
    ):
        raise _bad("must be a whole number of seconds >= 0", "properties.timeoutInSeconds")
    props.setdefault("asyncExecution", False)
    password = props.pop("runAsPassword", None)
    return RunCommandInput(location, dict(tags) if tags is not None else None, props, password)
