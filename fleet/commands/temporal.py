"""Production mode's command-line side: the ``--temporal`` options every run command shares,
``fleet temporal dev`` (a local server), and the ``--temporal`` branches of run, status,
cancel, resume and report (thin: the work is in ``fleet.production``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from fleet.commands.common import echo, fail, guarded
from fleet.commands.common import run_async as _run_async
from fleet.errors import EXIT_HALTED, EXIT_INTERRUPTED, UsageError

__all__ = ["cancel_temporal", "report_temporal", "resume_temporal", "run_temporal",
           "status_temporal", "target_of", "temporal", "temporal_options"]


def temporal_options(fn: Any) -> Any:
    options = [
        click.option("--temporal", "temporal", envvar="FLEET_TEMPORAL", metavar="ADDRESS",
                     help="Production mode: the Temporal frontend (host:port) that runs it."),
        click.option("--namespace", envvar="FLEET_TEMPORAL_NAMESPACE", default="default",
                     show_default=True, help="Temporal namespace."),
        click.option("--task-queue", envvar="FLEET_TEMPORAL_TASK_QUEUE", default="fleet",
                     show_default=True, help="Task queue the fleet workers poll."),
        click.option("--temporal-tls", is_flag=True, envvar="FLEET_TEMPORAL_TLS",
                     help="Connect to Temporal over TLS (implied by the options below)."),
        click.option("--temporal-ca-file", envvar="FLEET_TEMPORAL_CA_FILE",
                     type=click.Path(dir_okay=False), help="CA (PEM) that signed Temporal's certificate."),
        click.option("--temporal-cert-file", envvar="FLEET_TEMPORAL_CERT_FILE",
                     type=click.Path(dir_okay=False), help="Client certificate (PEM) for mTLS."),
        click.option("--temporal-key-file", envvar="FLEET_TEMPORAL_KEY_FILE",
                     type=click.Path(dir_okay=False), help="Client private key (PEM) for mTLS."),
        click.option("--temporal-api-key", envvar="FLEET_TEMPORAL_API_KEY",
                     help="API key (Temporal Cloud); prefer the environment variable."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def target_of(kw: dict[str, Any]) -> Any:
    from fleet.production.connect import TemporalTarget

    return TemporalTarget(
        address=kw["temporal"], namespace=kw.get("namespace") or "default",
        task_queue=kw.get("task_queue") or "fleet", tls=bool(kw.get("temporal_tls")),
        tls_ca_file=kw.get("temporal_ca_file"), tls_cert_file=kw.get("temporal_cert_file"),
        tls_key_file=kw.get("temporal_key_file"), api_key=kw.get("temporal_api_key"),
    )


def _storage(kw: dict[str, Any]) -> Any:
    from fleet.production.client import Storage

    storage = Storage(kw.get("storage_connection_string"), kw.get("storage_account_url"))
    if not (storage.connection_string or storage.account_url):
        fail(UsageError("production mode keeps a run's plan, results and reports in a storage "
                        "account: give --storage-connection-string or --storage-account-url"))
    return storage


def leave(code: int = 0) -> NoReturn:
    """Exit now, without interpreter finalization: the Temporal SDK's native threads can abort
    a finalizing interpreter (PyGILState_Release) after a client or worker ran, which would
    turn a clean exit code into SIGABRT. Output is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_async(factory: Any) -> Any:
    """``fleet.commands.common.run_async``; its error exits (one line, the error's code) leave
    without interpreter finalization too (``leave``)."""
    try:
        return _run_async(factory)
    except SystemExit as done:
        leave(done.code if isinstance(done.code, int) else 1)


# -- fleet temporal dev ---------------------------------------------------------------------
@click.group()
def temporal() -> None:
    """Production mode helpers (Temporal)."""


@temporal.command("dev")
@click.option("--port", default=7233, show_default=True, type=click.IntRange(1, 65535),
              help="Frontend (gRPC) port on 127.0.0.1.")
@click.option("--ui-port", default=8233, show_default=True, type=click.IntRange(1, 65535),
              help="Web UI port on 127.0.0.1.")
@click.option("--db", "db_file", default="temporal-dev.sqlite", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite file that keeps the server's state.")
@click.option("--headless", is_flag=True, help="No web UI.")
def dev(port: int, ui_port: int, db_file: str, headless: bool) -> None:
    """Start a local Temporal dev server (loopback only; state in one SQLite file); print one
    JSON line when it is ready; stop it with Ctrl-C or SIGTERM."""
    from fleet.production.devserver import start_dev_server

    server = guarded(lambda: start_dev_server(port=port, ui_port=ui_port, db_file=Path(db_file),
                                              headless=headless))
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    echo(json.dumps({"address": server.address, "namespace": server.namespace,
                           "ui_url": server.ui_url, "pid": server.process.pid}), nl=True)
    sys.stdout.flush()
    try:
        while not stopping and server.process.poll() is None:
            time.sleep(0.2)
    finally:
        server.stop()
    sys.exit(0 if stopping else (server.process.returncode or 1))


# -- the --temporal branches ----------------------------------------------------------------
def run_temporal(plan: Any, kw: dict[str, Any]) -> None:
    """``fleet run --temporal``: store the plan, start the workflow, follow it (or detach)."""
    from fleet.production.client import submit

    target = target_of(kw)
    storage = _storage(kw)
    heartbeat_s = _env_seconds("FLEET_TEMPORAL_HEARTBEAT_TIMEOUT", 30.0)
    started = run_async(lambda: submit(plan, target, storage, heartbeat_timeout_s=heartbeat_s))
    if not started:
        echo(f"run {plan.run_id} already exists on {target.address}: not started again "
                   f"(follow it with `fleet status {plan.run_id} --temporal {target.address}`)", err=True)
        leave(2)
    echo(f"run {plan.run_id} submitted to {target.address} (namespace {target.namespace}, "
               f"task queue {target.task_queue})")
    if kw.get("detach"):
        echo(f"follow it: fleet status {plan.run_id} --temporal {target.address}")
        leave(0)
    _follow(plan, target, storage, Path(kw.get("run_dir") or Path("runs") / plan.run_id), kw)


def _env_seconds(name: str, default: float) -> float:
    import os

    text = os.environ.get(name, "").strip()
    try:
        return float(text) if text else default
    except ValueError:
        fail(UsageError(f"{name}: not a number of seconds: {text!r}"))


def _follow(plan: Any, target: Any, storage: Any, run_dir: Path, kw: dict[str, Any]) -> None:
    """The embedded mode's live display and recap, fed from the workflow and the run's storage."""
    from fleet.commands.run import terminal_approver, use_colour
    from fleet.engine.progress import JsonLog, Progress
    from fleet.journal import job_key
    from fleet.production.client import fetch_reports
    from fleet.production.follow import Translator
    from fleet.production.watch import follow_run
    from fleet.report import load_record, recap_text

    run_id = plan.run_id
    colour = use_colour(sys.stdout)
    log = guarded(lambda: JsonLog(Path(kw["log_file"]))) if kw.get("log_file") else None
    progress = Progress(sys.stdout, live=sys.stdout.isatty(), verbose=kw.get("verbose", 0), colour=colour)
    per_wave: dict[int, int] = {}
    for job in plan.jobs:
        per_wave[job.wave] = per_wave.get(job.wave, 0) + 1
    progress.expect(per_wave)

    def emit(event: Any) -> None:
        progress(event)
        if log is not None:
            log(event)

    approver = terminal_approver()  # on a terminal a gate asks, as in the embedded mode
    translator = Translator(plan, resume_hint=f"fleet resume {run_id} --approve --temporal {target.address}",
                            announce_gates=approver is None)

    def stop_display() -> None:
        progress.close()
        if log is not None:
            log.close()

    try:
        summary = _run_async(lambda: follow_run(run_id, target, storage, translator, emit,
                                                approver=approver))
        if summary is None:  # declined at a gate: the run waits there, durably
            stop_display()
            leave(EXIT_HALTED)
        _run_async(lambda: fetch_reports(run_id, storage, run_dir))
        record = guarded(lambda: load_record(run_dir))
        for event in translator.unsaid((job_key(r.machine, r.step, r.rollback), r.state, r.reason)
                                       for r in record.results):
            emit(event)
    except (KeyboardInterrupt, SystemExit) as done:  # one line said why (guarded)
        stop_display()
        code = done.code if isinstance(done, SystemExit) else EXIT_INTERRUPTED
        if code == EXIT_INTERRUPTED:
            echo(f"stopped following; the run goes on (fleet status {run_id} --temporal ...)")
        leave(code if isinstance(code, int) else 1)
    stop_display()
    # recap_text neutralises every untrusted piece itself, and adds colour codes of its own
    click.echo(recap_text(record, colour=colour), nl=False)
    echo(f"report: {run_dir / 'report.html'}")
    leave(summary.exit_code)


def _progress_line(data: dict[str, Any]) -> str:
    waves = ", ".join(f"wave {int(w) + 1}: {s}" for w, s in sorted(data.get("waves", {}).items(),
                                                                   key=lambda kv: int(kv[0])))
    machines = ", ".join(f"{n} {s}" for s, n in sorted(data.get("machines", {}).items()))
    extra = ""
    if data.get("awaiting_approval") is not None:
        extra = f"; waiting for approval after wave {int(data['awaiting_approval']) + 1}"
    if data.get("breach_reason"):
        extra += f"; breached: {data['breach_reason']}"
    return f"[{data.get('status', '?')}] {waves or 'starting'}" + (f" | {machines}" if machines else "") + extra


def status_temporal(run_id: str, kw: dict[str, Any], fmt: str) -> None:
    from fleet.production.client import progress

    data = run_async(lambda: progress(target_of(kw), run_id))
    if fmt == "json":
        echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        echo(f"run {run_id}: workflow {data['workflow']}")
        echo("  " + _progress_line(data))
        moving = data.get("in_flight") or {}
        if any(moving.values()):
            echo(f"  in flight: {moving.get('dispatched', 0)} sent, {moving.get('running', 0)} running")
    leave(0)


def cancel_temporal(run_id: str, kw: dict[str, Any]) -> None:
    from fleet.production.client import cancel, wait_result

    target = target_of(kw)
    run_async(lambda: cancel(target, run_id))
    echo(f"cancel requested: run {run_id} stops its in-flight commands (DELETE) and skips the rest")
    if kw.get("wait"):
        summary = run_async(lambda: asyncio.wait_for(wait_result(target, run_id), kw.get("timeout_s") or 600))
        echo(f"run {run_id}: {summary.status}")
    leave(0)


def resume_temporal(run_id: str, kw: dict[str, Any]) -> None:
    from fleet.production.client import approve

    if not kw.get("approve"):
        fail(UsageError("a production run resumes by itself (workers retry); "
                        "`fleet resume RUN_ID --temporal ADDRESS --approve` approves its gate"))
    wave = run_async(lambda: approve(target_of(kw), run_id))
    echo(f"approved: run {run_id} continues after wave {wave + 1}")
    leave(0)


def report_temporal(run_id: str, kw: dict[str, Any], run_dir: Path | None) -> None:
    from fleet.production.client import fetch_reports

    target_dir = run_dir or Path("runs") / run_id
    written = run_async(lambda: fetch_reports(run_id, _storage(kw), target_dir))
    for path in written:
        echo(str(path))
