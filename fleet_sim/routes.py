"""Handlers of the simulated ARM endpoints. Each takes the context, the request and the path's
named groups, and returns a response; validation failures raise ``ArmReject``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from fleet_sim.armjson import error_body, machine_json, run_command_json
from fleet_sim.clock import SimClock
from fleet_sim.config import SimConfig
from fleet_sim.fleetgen import SimMachine
from fleet_sim.state import FleetState, Operation, RunCommand
from fleet_sim.validate import ArmReject, validate_name, validate_run_command

__all__ = ["HANDLERS", "SimContext"]

PROVIDER = "/providers/Microsoft.HybridCompute"


@dataclass(slots=True)
class SimContext:
    config: SimConfig
    state: FleetState
    clock: SimClock


Handler = Callable[[SimContext, web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _page(
    ctx: SimContext,
    request: web.Request,
    items: Sequence[Any],
    render: Callable[[Any], dict[str, Any]],
) -> web.Response:
    token = request.query.get("$skiptoken", "0")
    start = int(token) if token.isdigit() else 0
    size = max(1, ctx.config.page_size)
    chunk = items[start : start + size]
    body: dict[str, Any] = {"value": [render(item) for item in chunk]}
    if start + size < len(items):
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = str(start + size)
        body["nextLink"] = f"{base_url(request)}{request.path}?{urlencode(query)}"
    return _json(body)


def _machine_or_404(ctx: SimContext, groups: dict[str, str]) -> SimMachine:
    machine = ctx.state.machine(groups["sub"], groups["rg"], groups["machine"])
    if machine is None:
        raise ArmReject(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.HybridCompute/machines/{groups['machine']}' under resource "
            f"group '{groups['rg']}' was not found.",
        )
    return machine


def _render_machine(ctx: SimContext) -> Callable[[Any], dict[str, Any]]:
    def render(m: SimMachine) -> dict[str, Any]:
        status, changed = ctx.state.status(m)
        return machine_json(m, status=status, last_status_change=changed)

    return render


def _render_rc(ctx: SimContext, rc: RunCommand) -> dict[str, Any]:
    view = ctx.state.instance_view(rc)
    ctx.state.note_answer(rc, view)
    return run_command_json(
        rc.machine,
        rc.name,
        location=rc.location,
        tags=rc.tags,
        properties=rc.properties,
        provisioning_state=ctx.state.provisioning_state(rc),
        instance_view=view,
    )


def _lro_headers(ctx: SimContext, request: web.Request, op: Operation) -> dict[str, str]:
    m = op.run_command.machine
    version = request.query.get("api-version", "")
    root = f"{base_url(request)}/subscriptions/{m.subscription_id}{PROVIDER}/locations/{m.location}"
    query = urlencode({"api-version": version})
    return {
        "Azure-AsyncOperation": f"{root}/operationStatuses/{op.id}?{query}",
        "Location": f"{root}/operationResults/{op.id}?{query}",
        "Retry-After": str(ctx.config.profile.behaviour.lro_retry_after_s),
    }


async def subscriptions_list(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    subs = sorted(ctx.state.subscriptions.values())

    def render(sub: str) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{sub}",
            "subscriptionId": sub,
            "displayName": f"fleet-sim {sub[:8]}",
            "state": "Enabled",
            "tenantId": "00000000-0000-0000-0000-00000000f1ee",
        }

    return _page(ctx, request, subs, render)


async def machines_list_sub(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    machines = ctx.state.by_subscription.get(groups["sub"].lower(), [])
    return _page(ctx, request, machines, _render_machine(ctx))


async def machines_list_rg(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    rg = groups["rg"].lower()
    machines = [
        m
        for m in ctx.state.by_subscription.get(groups["sub"].lower(), [])
        if m.resource_group.lower() == rg
    ]
    if not machines:
        raise ArmReject(
            404, "ResourceGroupNotFound", f"Resource group '{groups['rg']}' could not be found."
        )
    return _page(ctx, request, machines, _render_machine(ctx))


async def machine_get(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    return _json(_render_machine(ctx)(_machine_or_404(ctx, groups)))


async def run_commands_list(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    machine = _machine_or_404(ctx, groups)
    items = ctx.state.list_run_commands(machine)
    return _page(ctx, request, items, lambda rc: _render_rc(ctx, rc))


async def run_command_get(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    machine = _machine_or_404(ctx, groups)
    rc = ctx.state.get(machine, groups["name"])
    if rc is None:
        raise ArmReject(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.HybridCompute/machines/{machine.name}/runCommands/{groups['name']}' "
            f"under resource group '{groups['rg']}' was not found.",
        )
    return _json(_render_rc(ctx, rc))


async def _body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as error:
        raise ArmReject(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        ) from error


async def run_command_put(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    validate_name(groups["name"])
    machine = _machine_or_404(ctx, groups)
    body = await _body(request)
    coerce = ctx.config.profile.behaviour.parameter_values == "coerce"
    given = validate_run_command(body, require_location=True, coerce_values=coerce)
    assert given.location is not None and given.properties is not None
    return await _apply(
        ctx,
        request,
        machine,
        groups["name"],
        given.location,
        given.tags,
        given.properties,
        given.password,
    )


async def _apply(
    ctx: SimContext,
    request: web.Request,
    machine: SimMachine,
    name: str,
    location: str,
    tags: dict[str, str] | None,
    properties: dict[str, Any],
    password: str | None,
) -> web.StreamResponse:
    existing = ctx.state.get(machine, name)
    if existing is not None and existing.deleting:
        raise ArmReject(409, "Conflict", f"The run command '{name}' is being deleted.")
    reason = ctx.state.unreachable_reason(machine)
    if reason is not None and ctx.config.profile.behaviour.unreachable == "reject":
        ctx.state.stats.unreachable += 1
        raise ArmReject(409, reason.code, reason.message)
    status, rc, op = ctx.state.put(
        machine, name, location=location, tags=tags, properties=properties, password=password
    )
    headers = _lro_headers(ctx, request, op) if op is not None else None
    return _json(_render_rc(ctx, rc), status, headers)


async def run_command_patch(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    validate_name(groups["name"])
    machine = _machine_or_404(ctx, groups)
    rc = ctx.state.get(machine, groups["name"])
    if rc is None:
        raise ArmReject(
            404, "ResourceNotFound", f"The run command '{groups['name']}' was not found."
        )
    body = await _body(request)
    coerce = ctx.config.profile.behaviour.parameter_values == "coerce"
    given = validate_run_command(body, require_location=False, coerce_values=coerce)
    if given.properties is None:  # the spec's PATCH: tags only
        if given.tags is not None:
            rc.tags = given.tags
        return _json(_render_rc(ctx, rc))
    # The seed's step 3: full properties. Stops the running execution and runs the new one.
    password = given.password if given.password is not None else rc.password
    tags = given.tags if given.tags is not None else rc.tags
    return await _apply(
        ctx,
        request,
        machine,
        rc.name,
        given.location or rc.location,
        tags,
        given.properties,
        password,
    )


async def run_command_delete(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    validate_name(groups["name"])
    machine = _machine_or_404(ctx, groups)
    rc = ctx.state.get(machine, groups["name"])
    if rc is None:
        return web.Response(status=204)
    op = ctx.state.delete(rc)
    return web.Response(status=202, headers=_lro_headers(ctx, request, op))


def _operation_or_404(ctx: SimContext, groups: dict[str, str]) -> Operation:
    op = ctx.state.operations.get(groups["op"])
    if op is None or op.run_command.machine.subscription_id.lower() != groups["sub"].lower():
        raise ArmReject(404, "ResourceNotFound", f"The operation '{groups['op']}' was not found.")
    return op


async def operation_status(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    op = _operation_or_404(ctx, groups)
    body = ctx.state.operation_json(op)
    headers = None
    if body["status"] == "InProgress":
        headers = {"Retry-After": str(ctx.config.profile.behaviour.lro_retry_after_s)}
    return _json(body, headers=headers)


async def operation_result(
    ctx: SimContext, request: web.Request, groups: dict[str, str]
) -> web.StreamResponse:
    op = _operation_or_404(ctx, groups)
    body = ctx.state.operation_json(op)
    if body["status"] == "InProgress":
        return web.Response(status=202, headers=_lro_headers(ctx, request, op))
    if body["status"] == "Succeeded":
        if op.kind == "delete":
            return web.Response(status=204)
        return _json(_render_rc(ctx, op.run_command))
    error = body.get("error") or {}
    return _json(
        error_body(str(error.get("code")), str(error.get("message"))),
        409 if body["status"] == "Canceled" else 500,
    )


# (route name, method) -> (operation id for stats, handler)
HANDLERS: dict[tuple[str, str], tuple[str, Handler]] = {
    ("subscriptions", "GET"): ("Subscriptions_List", subscriptions_list),
    # Answered by fleet_sim.graph (Front dispatches it before ARM's throttle); listed for stats.
    ("resource_graph", "POST"): ("Resources_Query", subscriptions_list),
    ("machines_sub", "GET"): ("Machines_ListBySubscription", machines_list_sub),
    ("machines_rg", "GET"): ("Machines_ListByResourceGroup", machines_list_rg),
    ("machine", "GET"): ("Machines_Get", machine_get),
    ("run_commands", "GET"): ("MachineRunCommands_List", run_commands_list),
    ("run_command", "GET"): ("MachineRunCommands_Get", run_command_get),
    ("run_command", "PUT"): ("MachineRunCommands_CreateOrUpdate", run_command_put),
    ("run_command", "PATCH"): ("MachineRunCommands_Update", run_command_patch),
    ("run_command", "DELETE"): ("MachineRunCommands_Delete", run_command_delete),
    ("operation_status", "GET"): ("OperationStatus_Get", operation_status),
    ("operation_result", "GET"): ("OperationResult_Get", operation_result),
}
