"""The simulated Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources``.

Serves the Arc machines of the simulated fleet as rows of the ``resources`` table, runs the
KQL subset of :mod:`fleet_sim.kql` over them (statuses as of ``graph_lag_s`` ago: ARG lags ARM), pages with ``$top``/``$skip``/``$skipToken`` and
keeps ARG's per-user quota (``x-ms-user-quota-remaining`` / ``x-ms-user-quota-resets-after`` on
every answer, 429 when spent). Anything outside the documented subset is an ARM-shaped 400,
never a result computed some other way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fleet_sim.armjson import machine_json
from fleet_sim.kql import KqlError, parse_query

__all__ = ["GRAPH_API_VERSIONS", "GRAPH_KEY", "GraphService", "GraphSpec", "resource_graph"]

GRAPH_API_VERSIONS = ("2021-03-01", "2022-10-01", "2024-04-01")
MACHINE_TYPE = "microsoft.hybridcompute/machines"
COLUMNS = (
    "id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId",
    "managedBy", "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation",
)
TENANT_ID = "00000000-0000-0000-0000-00000000f1ee"
_OPTIONS = {"$top", "$skip", "$skipToken", "resultFormat", "allowPartialScopes",
            "authorizationScopeFilter"}


@dataclass(frozen=True, slots=True)
class GraphSpec:
    """ARG's per-user quota: ``quota`` queries per ``window_s`` simulated seconds (Learn's
    example: 15 per 5 s). ``page_size`` is used when a request gives no ``$top``."""

    quota: int = 15
    window_s: float = 5.0
    page_size: int = 100


class GraphService:
    """Quota windows per principal; one per simulator (kept on the aiohttp app)."""

    def __init__(self, spec: GraphSpec) -> None:
        self.spec = spec
        self._windows: dict[str, tuple[float, int]] = {}  # principal -> (window start, used)
        self.queries = 0
        self.throttled = 0

    def admit(self, principal: str, now: float) -> tuple[bool, int, float]:
        """(allowed, remaining after this query, seconds until the window resets)."""
        start, used = self._windows.get(principal, (now, 0))
        if now - start >= self.spec.window_s:
            start, used = now, 0
        resets = max(0.0, start + self.spec.window_s - now)
        if used >= self.spec.quota:
            self._windows[principal] = (start, used)
            return False, 0, resets
        used += 1
        self._windows[principal] = (start, used)
        return True, self.spec.quota - used, resets


GRAPH_KEY = web.AppKey("graph", GraphService)


def _hms(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _bad(code: str, message: str, headers: dict[str, str], status: int = 400) -> web.Response:
    # ARG's shape: a generic outer error whose details carry the specific reason.
    body = {
        "error": {
            "code": "BadRequest" if status == 400 else code,
            "message": "Resource Graph did not accept the request (see details)."
            if status == 400 else message,
            "details": [{"code": code, "message": message}],
        }
    }
    return web.Response(body=json.dumps(body).encode(), status=status,
                        content_type="application/json", headers=headers)


def _row(machine: Any, status: str, changed: str) -> dict[str, Any]:
    body = machine_json(machine, status=status, last_status_change=changed)
    return {
        "id": body["id"],
        "name": body["name"],
        "type": MACHINE_TYPE,  # ARG lower-cases types and resource groups
        "tenantId": TENANT_ID,
        "kind": "",
        "location": body["location"],
        "resourceGroup": machine.resource_group.lower(),
        "subscriptionId": machine.subscription_id,
        "managedBy": "",
        "sku": None,
        "plan": None,
        "properties": body["properties"],
        "tags": body["tags"] if body["tags"] is not None else {},
        "identity": None,
        "zones": None,
        "extendedLocation": None,
    }


def _skip_token(fingerprint: str, offset: int) -> str:
    raw = json.dumps({"f": fingerprint, "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_skip_token(token: str, fingerprint: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        offset = data["o"]
        if data["f"] != fingerprint or not isinstance(offset, int) or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise KqlError("the $skipToken does not belong to this query and scope") from None
    return offset


def _int_option(options: dict[str, Any], key: str, low: int, high: int, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise KqlError(f"options.{key} must be a whole number from {low} to {high}")
    return value


async def resource_graph(ctx: Any, request: web.Request, principal: str) -> web.StreamResponse:
    """Answer one ARG query. ``ctx`` is the simulator's SimContext."""
    service = request.app[GRAPH_KEY]
    allowed, remaining, resets = service.admit(principal, ctx.clock.now())
    headers = {"x-ms-user-quota-remaining": str(remaining),
               "x-ms-user-quota-resets-after": _hms(resets)}
    if not allowed:
        service.throttled += 1
        headers["Retry-After"] = str(max(1, math.ceil(resets)))
        return _bad("RateLimiting", "Please provide below info when asking for support: the "
                    "query quota of this user is used up for the current window; retry after "
                    f"{_hms(resets)}.", headers, status=429)
    service.queries += 1
    version = request.query.get("api-version", "")
    if version not in GRAPH_API_VERSIONS:
        return _bad("InvalidApiVersionParameter", f"The api-version '{version[:40]}' is invalid. "
                    f"The supported versions are '{','.join(GRAPH_API_VERSIONS)}'.", headers)
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        return _bad("InvalidRequestContent", "The request content was invalid and could not be "
                    "deserialized.", headers)
    try:
        return _answer(ctx, service, body, headers)
    except KqlError as error:
        return _bad("InvalidQuery", f"Query is invalid or not supported by fleet's simulator: "
                    f"{error}", headers)


def _answer(ctx: Any, service: GraphService, body: Any, headers: dict[str, str]) -> web.Response:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise KqlError("the body needs 'query' (a string)")
    unknown = set(body) - {"query", "subscriptions", "managementGroups", "options", "facets"}
    if unknown:
        raise KqlError(f"unknown request fields: {', '.join(sorted(unknown))}")
    if body.get("managementGroups"):
        raise KqlError("managementGroups scopes are not supported; give subscriptions")
    if body.get("facets"):
        raise KqlError("facets are not supported")
    options = body.get("options") or {}
    if not isinstance(options, dict) or set(options) - _OPTIONS:
        raise KqlError(f"options may hold only {', '.join(sorted(_OPTIONS))}")
    if options.get("resultFormat", "objectArray") != "objectArray":
        raise KqlError("only resultFormat 'objectArray' is supported")
    state = ctx.state
    subs = body.get("subscriptions")
    if subs is None:
        wanted = set(state.subscriptions)
    elif isinstance(subs, list) and all(isinstance(s, str) for s in subs):
        wanted = {s.lower() for s in subs}
        missing = sorted(s for s in subs if s.lower() not in state.subscriptions)
        if missing:
            raise KqlError(f"subscription {missing[0]!r} does not exist or is not accessible")
    else:
        raise KqlError("subscriptions must be a list of subscription ids")
    query = parse_query(body["query"], COLUMNS)
    rows = []
    for sub in sorted(wanted):
        for machine in state.by_subscription.get(sub, []):
            status, changed = state.status(machine, lag_s=ctx.config.graph_lag_s)
            rows.append(_row(machine, status, changed))
    result = query.run(rows)
    fingerprint = hashlib.sha256(
        json.dumps([body["query"], sorted(wanted)]).encode()
    ).hexdigest()[:16]
    top = _int_option(options, "$top", 1, 1000, max(1, service.spec.page_size))
    skip = _int_option(options, "$skip", 0, 10**9, 0)
    token = options.get("$skipToken")
    start = skip
    if token is not None:
        if not isinstance(token, str):
            raise KqlError("$skipToken must be a string")
        start = _read_skip_token(token, fingerprint)
    page = result[start : start + top]
    answer: dict[str, Any] = {
        "totalRecords": len(result),
        "count": len(page),
        "resultTruncated": "false",
        "data": page,
        "facets": [],
    }
    if start + top < len(result):
        answer["$skipToken"] = _skip_token(fingerprint, start + top)
    return web.Response(body=json.dumps(answer, separators=(",", ":")).encode(),
                        content_type="application/json", headers=headers)
