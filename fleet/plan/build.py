"""Inventory + playbook + extra vars -> Plan. Pure: reads the playbook and its script files,
never the network. Every failure is an ``InputError`` subclass naming file, line and field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.errors import PlaybookError, SecretError, SelectionError, TemplateError, UsageError
from fleet.inventory import RESERVED_VARS, Host, Inventory
from fleet.inventory.loader import VAR_NAME
from fleet.inventory.patterns import select_hosts
from fleet.plan.model import (
    Excluded,
    Job,
    MachineOrigin,
    Plan,
    PlaybookInfo,
    SecretRef,
    StepInfo,
    Success,
    Wave,
)
from fleet.plan.names import blob_names, check_run_id, new_run_id, run_command_name
from fleet.plan.scriptcheck import interpolation_in_double_quotes
from fleet.plan.waves import assign_waves
from fleet.playbook import Playbook, StepSpec, Tmpl, load_playbook
from fleet.sweep.runner import applicable, derived_nonce, runner_script
from fleet.templating import Renderer, Where, to_text, validate_when
from fleet.yamlsrc import shown_key

__all__ = ["SCRIPT_INLINE_MAX_BYTES", "build_plan", "new_run_id"]

# Scripts up to this size go inline in the PUT body; bigger ones are uploaded to a blob and
# sent as scriptUri. ARM accepts request bodies of a few MB, but a 1000-machine wave would then
# push gigabytes through ARM's write budget; 256 KiB keeps every PUT small.
SCRIPT_INLINE_MAX_BYTES = 256 * 1024
SECRET_FIELDS = "protected_parameters and run_as.password"


class _Builder:
    def __init__(self, playbook: Playbook, run_id: str, extra_vars: Mapping[str, Any],
                 nonce: str = "") -> None:
        self.playbook = playbook
        self.nonce = nonce
        self.run_id = run_id
        self.extra_vars = dict(extra_vars)
        self.file = playbook.path
        self.renderer = Renderer(base_dir=str(Path(playbook.path).parent))
        self.warnings: list[str] = list(playbook.warnings)
        self.warned: set[str] = set()
        # Equal request bodies are one object, shared by their jobs (read-only: the engine
        # copies a body before it adds SAS links and secrets). A fleet mostly sends the same
        # few bodies; the plan held by ``fleet run`` kept 10,000 copies of them.
        self.bodies: dict[str, Mapping[str, Any]] = {}

    def warn_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.warnings.append(message)

    # -- values ------------------------------------------------------------------------------

    def render(self, tmpl: Tmpl, context: Mapping[str, Any], host: Host, *, mode: str = "plain",
               allow_secret: bool = False) -> str | SecretRef:
        if not isinstance(tmpl.value, str):
            return to_text(tmpl.value)
        where = Where(self.file, tmpl.line, tmpl.field, host.name)
        rendered = self.renderer.render(tmpl.value, context, mode=mode, where=where)
        if not rendered.secrets:
            return rendered.text
        if not allow_secret:
            raise SecretError(f"secret() may only be used in {SECRET_FIELDS}", file=self.file,
                              line=tmpl.line, field=tmpl.field)
        if len(rendered.secrets) != 1 or rendered.text.strip() != rendered.placeholders[0]:
            raise SecretError("secret() must be the whole value, e.g. "
                              "'{{ secret(\"env:NAME\") }}'", file=self.file, line=tmpl.line,
                              field=tmpl.field)
        return rendered.secrets[0]

    def text(self, tmpl: Tmpl, context: Mapping[str, Any], host: Host, *,
             mode: str = "plain") -> str:
        value = self.render(tmpl, context, host, mode=mode)
        assert isinstance(value, str)
        return value

    def protected(self, tmpl: Tmpl, context: Mapping[str, Any], host: Host) -> SecretRef:
        value = self.render(tmpl, context, host, allow_secret=True)
        if isinstance(value, SecretRef):
            return value
        self.warn_once(tmpl.field, f"{tmpl.field} is written in the playbook (line {tmpl.line});"
                       " prefer secret(\"env:NAME\") or secret(\"file:PATH\")")
        return SecretRef("literal", value)

    def render_data(self, value: Any, context: Mapping[str, Any], host: Host, tmpl: Tmpl) -> Any:
        if isinstance(value, str):
            return self.text(Tmpl(value, tmpl.line, tmpl.field), context, host)
        if isinstance(value, dict):
            return {k: self.render_data(v, context, host, tmpl) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render_data(v, context, host, tmpl) for v in value]
        return value

    # -- context -----------------------------------------------------------------------------

    def context(self, host: Host, wave_index: int, wave_label: str) -> dict[str, Any]:
        machine = host.machine
        base: dict[str, Any] = {
            "machine": {
                "name": machine.name,
                "id": machine.resource_id,
                "subscription_id": machine.subscription_id,
                "resource_group": machine.resource_group,
                "location": machine.location,
                "os_type": machine.os_type,
                "tags": dict(host.tags),
                "groups": list(host.groups),
            },
            "run": {"id": self.run_id, "playbook": self.playbook.name},
            "wave": {"index": wave_index, "number": wave_index + 1, "label": wave_label},
        }
        variables: dict[str, Any] = dict(host.vars)
        # Playbook vars may use host vars, earlier playbook vars and extra vars; extra vars win.
        for name, tmpl in self.playbook.vars:
            scope = {**variables, **self.extra_vars, **base, "vars": variables}
            variables[name] = self.render_data(tmpl.value, scope, host, tmpl)
        variables.update(self.extra_vars)
        return {**variables, **base, "vars": variables}

    # -- jobs --------------------------------------------------------------------------------

    def check_step(self, step: StepSpec, os_types: set[str]) -> None:
        if step.when is not None:
            validate_when(str(step.when.value), Where(self.file, step.when.line, step.when.field))
        if step.script is None or not step.template:
            return
        for os_type in sorted(os_types):
            line = interpolation_in_double_quotes(str(step.script.value), os_type)
            if line is not None:
                raise TemplateError(
                    f"an interpolation on template line {line} is inside double quotes, where "
                    f"{'PowerShell' if os_type == 'windows' else 'sh'} would still expand $(...)",
                    file=self.file, line=step.script.line, field=step.script.field,
                    hint="drop the quotes: fleet quotes every {{ }} itself (or use | raw)",
                )

    def job(self, host: Host, step: StepSpec, step_index: int, wave_index: int,
            context: Mapping[str, Any], *, rollback: bool) -> Job:
        machine = host.machine
        source: dict[str, str] = {}
        script_upload = None
        if step.script is not None:
            if step.template:
                script = self.text(step.script, context, host, mode=machine.os_type)
            else:
                script = str(step.script.value)
            if len(script.encode()) > SCRIPT_INLINE_MAX_BYTES:
                script_upload = script
            else:
                source["script"] = script
        elif step.script_uri is not None:
            source["scriptUri"] = self.text(step.script_uri, context, host)
        elif step.command_id is not None:
            source["commandId"] = self.text(step.command_id, context, host)
        elif self.playbook.checks:
            script = self.sweep_runner(host, context)
            if len(script.encode()) > SCRIPT_INLINE_MAX_BYTES:
                script_upload = script
            else:
                source["script"] = script
        parameters = [{"name": p.name, "value": self.text(p.value, context, host)}
                      for p in step.parameters]
        properties: dict[str, Any] = {
            "source": source,
            "parameters": parameters,
            "asyncExecution": step.async_execution,
        }
        password = None
        if step.run_as is not None:
            properties["runAsUser"] = self.text(step.run_as.user, context, host)
            if step.run_as.password is not None:
                password = self.protected(step.run_as.password, context, host)
        properties["timeoutInSeconds"] = step.timeout_s
        output_blob, error_blob = blob_names(self.run_id, machine, step.name)
        return Job(
            machine=machine,
            step=step.name,
            step_index=step_index,
            wave=wave_index,
            run_command_name=run_command_name(self.run_id, step.name),
            output_blob=output_blob,
            error_blob=error_blob,
            request=self.shared({"location": machine.location, "properties": properties}),
            timeout_s=step.timeout_s,
            success=self.success(step, context, host),
            protected_parameters=tuple(
                (p.name, self.protected(p.value, context, host))
                for p in step.protected_parameters
            ),
            run_as_password=password,
            when=None if step.when is None else str(step.when.value),
            script_upload=script_upload,
            rollback=rollback,
        )

    def shared(self, request: dict[str, Any]) -> Mapping[str, Any]:
        """``request``, or the equal body (same keys in the same order) made before it."""
        key = json.dumps(request, ensure_ascii=False)
        return self.bodies.setdefault(key, request)

    def sweep_runner(self, host: Host, context: Mapping[str, Any]) -> str:
        """A sweep's one step: the machine's checks compiled into its OS's runner."""
        os_type = host.machine.os_type

        def render(snippet: str, line: int | None, field: str) -> str:
            return self.text(Tmpl(snippet, line, field), context, host, mode=os_type)

        return runner_script(self.playbook.checks, os_type, nonce=self.nonce, render=render)

    def check_snippets(self, os_types: set[str]) -> None:
        for check in self.playbook.checks:
            for os_type in sorted(os_types):
                snippet = check.snippet(os_type)
                line = None if snippet is None else interpolation_in_double_quotes(snippet,
                                                                                   os_type)
                if line is not None:
                    raise TemplateError(
                        f"an interpolation on snippet line {line} is inside double quotes, "
                        "where the shell would still expand $(...)", file=self.file,
                        line=check.line, field=f"checks.{check.id}.{os_type}",
                        hint="drop the quotes: fleet quotes every {{ }} itself (or use | raw)")

    def success(self, step: StepSpec, context: Mapping[str, Any], host: Host) -> Success:
        def patterns(items: tuple[Tmpl, ...]) -> tuple[str, ...]:
            out = []
            for tmpl in items:
                text = self.text(tmpl, context, host)
                try:
                    re.compile(text)
                except re.error as exc:
                    raise PlaybookError(f"bad regular expression {text!r}: {exc} (machine "
                                        f"{host.name})", file=self.file, line=tmpl.line,
                                        field=tmpl.field) from exc
                out.append(text)
            return tuple(out)

        return Success(step.success.exit_codes, patterns(step.success.output_matches),
                       patterns(step.success.output_not_matches))


def _check_extra_vars(extra_vars: Mapping[str, Any]) -> None:
    for name in extra_vars:
        if not isinstance(name, str) or not VAR_NAME.match(name):
            raise UsageError(f"extra var name {shown_key(name)} is not an identifier")
        if name in RESERVED_VARS:
            raise UsageError(f"extra var {name!r} is reserved for the template context")


def _select(playbook: Playbook, inventory: Inventory, limit: str | None) -> list[Host]:
    try:
        selected = select_hosts(inventory, playbook.hosts, field="hosts")
    except SelectionError as exc:
        raise SelectionError(exc.message, file=playbook.path, line=playbook.hosts_line,
                             field="hosts", hint=exc.hint) from exc
    if limit is None:
        return selected
    limited = {h.name for h in select_hosts(inventory, limit, field="--limit")}
    narrowed = [h for h in selected if h.name in limited]
    if not narrowed:
        raise SelectionError(f"--limit {limit!r} and hosts {playbook.hosts!r} have no machine in "
                             "common", file=playbook.path, line=playbook.hosts_line, field="hosts")
    return narrowed


def _with_checks(playbook: Playbook, selected: list[Host]) -> tuple[list[Host], list[Excluded]]:
    """A sweep skips machines whose OS no check has a snippet for."""
    kept = [h for h in selected if applicable(playbook.checks, h.machine.os_type)]
    if not kept:
        raise SelectionError(f"no check has a snippet for the OS of any of the {len(selected)} "
                             "selected machines", file=playbook.path, line=playbook.hosts_line,
                             field="checks")
    excluded = [Excluded(h.machine, f"no check has a snippet for {h.machine.os_type or 'its OS'}")
                for h in selected if h not in kept]
    return kept, excluded


def build_plan(*, playbook_path: Path, inventory: Inventory, limit: str | None,
               extra_vars: Mapping[str, Any], run_id: str, seed: int = 0,
               nonce: str | None = None,
               rollout_overrides: Mapping[str, Any] | None = None) -> Plan:
    """The plan for ``playbook_path`` over ``inventory``. Same inputs, same plan.

    ``nonce`` marks a sweep's result lines (see ``fleet.sweep.protocol``); without one, a sweep
    playbook gets one derived from the run id."""
    check_run_id(run_id)
    _check_extra_vars(extra_vars)
    playbook = load_playbook(playbook_path, rollout_overrides=rollout_overrides)
    if playbook.checks and nonce is None:
        nonce = derived_nonce(run_id, playbook.sha256)
    builder = _Builder(playbook, run_id, extra_vars, nonce or "")
    selected = _select(playbook, inventory, limit)
    excluded: list[Excluded] = []
    if playbook.os is not None:
        kept = [h for h in selected if h.machine.os_type == playbook.os]
        excluded = [Excluded(h.machine, f"os_type is {h.machine.os_type}; the playbook is for "
                             f"{playbook.os}") for h in selected if h not in kept]
        if not kept:
            raise SelectionError(f"none of the {len(selected)} selected machines runs "
                                 f"{playbook.os}", file=playbook.path, line=playbook.hosts_line,
                                 field="os")
        selected = kept
    if playbook.checks:
        selected, no_checks = _with_checks(playbook, selected)
        excluded.extend(no_checks)
    waves_out, wave_warnings = assign_waves(selected, playbook.rollout.waves, inventory,
                                            seed=seed, file=playbook.path)
    builder.warnings.extend(wave_warnings)
    os_types = {h.machine.os_type for h in selected}
    for step in (*playbook.steps, *playbook.rollback):
        builder.check_step(step, os_types)
    builder.check_snippets(os_types)
    waves: list[Wave] = []
    jobs: list[Job] = []
    rollback_jobs: list[Job] = []
    for wave_index, (label, hosts) in enumerate(waves_out):
        waves.append(Wave(wave_index, label, tuple(h.machine for h in hosts)))
        for host in hosts:
            context = builder.context(host, wave_index, label)
            for step_index, step in enumerate(playbook.steps):
                jobs.append(builder.job(host, step, step_index, wave_index, context,
                                        rollback=False))
            for step_index, step in enumerate(playbook.rollback):
                rollback_jobs.append(builder.job(host, step, step_index, wave_index, context,
                                                 rollback=True))
    if any(job.script_upload is not None for job in (*jobs, *rollback_jobs)):
        builder.warnings.append(f"scripts larger than {SCRIPT_INLINE_MAX_BYTES // 1024} KiB are "
                                "uploaded to blob storage and sent as scriptUri")
    return Plan(
        run_id=run_id,
        playbook=PlaybookInfo(playbook.name, playbook.path, playbook.sha256),
        waves=tuple(waves),
        steps=tuple(StepInfo(s.name, None if s.when is None else str(s.when.value))
                    for s in playbook.steps),
        jobs=tuple(jobs),
        rollback_steps=tuple(StepInfo(s.name) for s in playbook.rollback),
        rollback_jobs=tuple(rollback_jobs),
        excluded=tuple(excluded),
        rollout=playbook.rollout.policy,
        warnings=tuple(builder.warnings),
        origins=tuple(MachineOrigin(h.machine, h.origin.source, h.origin.snapshot_at,
                                    h.origin.status, h.origin.from_cache)
                      for _, hosts in waves_out for h in hosts if h.origin is not None),
    )
