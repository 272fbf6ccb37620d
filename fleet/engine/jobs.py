"""One job (one machine, one step) from dispatch to collected output.

dispatch (journal intent first) -> poll on the shared schedule -> judge -> collect blobs ->
delete the run command. A machine's failure is a result, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.engine.body import RequestBodies, request_sha256
from fleet.engine.classify import is_terminal, judge
from fleet.engine.collect import Collected, OutputCollector
from fleet.engine.events import JobEvent, Observer, finished_event_extras
from fleet.engine.options import Clock, EngineOptions
from fleet.engine.poller import PollOutcome, PollScheduler
from fleet.errors import FleetError, OutcomeUnknownError, RunStoppedError
from fleet.failpoints import Failpoints
from fleet.journal import JobRow, Journal, job_key, utc_now
from fleet.plan.model import Job
from fleet.redact import SecretMask
from fleet.types import JobState, SecretRef

if TYPE_CHECKING:
    from fleet.arm.models import RunCommandView
    from fleet.arm.protocol import RunCommands
    from fleet.blobs.protocol import OutputStore

__all__ = ["RESOLVE_HINT", "JobRunner", "put_sent_note", "request_sha256"]

RESOLVE_HINT = "resolve with `fleet resume RUN_DIR --resolve-unknown skip|resend [MACHINE...]`"


def put_sent_note(attempt: int) -> str:
    """The journal's note that attempt ``attempt``'s PUT was handed to the transport."""
    return f"PUT sent (attempt {attempt})"


def _lower(text: str | None) -> str:
    return (text or "").lower()


class JobRunner:
    def __init__(
        self,
        *,
        arm: RunCommands,
        storage: OutputStore | None,
        journal: Journal,
        run_dir: Path,
        poller: PollScheduler,
        clock: Clock,
        options: EngineOptions,
        emit: Observer,
        resolve_secret: Callable[[SecretRef], str],
        output_dirs: Mapping[str, str],
        failpoints: Failpoints | None = None,
        before_delete: Callable[[JobRow], Awaitable[None]] | None = None,
    ) -> None:
        self._failpoints = failpoints or Failpoints({})
        self._before_delete = before_delete
        self._arm = arm
        self._storage = storage
        self._journal = journal
        self._run_dir = run_dir
        self._poller = poller
        self._clock = clock
        self._options = options
        self._emit = emit
        self._output_dirs = output_dirs
        # Every secret value resolved in this run: masked in outputs, excerpts and reasons.
        self._mask = SecretMask()
        self._bodies = RequestBodies(storage=storage, options=options,
                                     resolve_secret=resolve_secret, mask=self._mask)
        self._collector = OutputCollector(
            storage=storage, run_dir=run_dir, clock=clock,
            max_output_bytes=options.max_output_bytes, policy=options.collect, mask=self._mask,
        )

    # -- public ----------------------------------------------------------------------------
    def skip(self, job: Job, reason: str) -> JobState:
        self._transition(job, JobState.SKIPPED, reason, reason=reason)
        return JobState.SKIPPED

    def mark(self, job: Job, state: JobState, reason: str) -> JobState:
        self._transition(job, state, reason, reason=reason, ended_at=utc_now())
        return state

    async def run(self, job: Job) -> JobState:
        """Run one job to a terminal state; cancellation (abort) stops it remotely.

        Resume-safe: a job the journal already finished is not touched; one that may have
        been sent (DISPATCHED) is looked up with a GET first and adopted if it exists; only a
        404 proves it never started, and only then is it sent again.
        """
        key = self._key(job)
        row = self._journal.job(key)
        prior = row.state if row is not None else JobState.PENDING
        if prior.terminal:
            return prior
        dispatched = prior in (JobState.DISPATCHED, JobState.RUNNING)
        try:
            if dispatched:
                view = await self._reconcile(job, prior)
                if isinstance(view, JobState):
                    return view
                if view is None:
                    dispatched = False  # provably never started: send it now
            if not dispatched:
                state = await self._dispatch(job)
                if state is not None:
                    return state
            # The deadline starts when ARM has accepted the PUT (or, after a restart, when the
            # job was adopted), not when the job was scheduled: a PUT that waited for write
            # tokens or 429s (up to the retry deadline, longer than the margin) still gets its
            # whole timeout + margin, so a throttled job is never stopped just after it starts.
            started_mono = self._clock.now()
            deadline = started_mono + job.timeout_s + self._options.timeout_margin_s
            outcome = await self._poller.wait(
                lambda: self._arm.get_run_command(job.machine, job.run_command_name),
                deadline=deadline,
                on_poll=lambda: self._on_poll(key),
            )
            if outcome.terminal:
                self._poller.observe_duration(self._clock.now() - started_mono)
            return await self._finish(job, outcome)
        except asyncio.CancelledError:
            row = self._journal.job(key)
            if row is not None and row.state in (JobState.DISPATCHED, JobState.RUNNING):
                await asyncio.shield(self._stop(job, self.cancel_reason))
            raise

    cancel_reason = "aborted by the rollout policy"

    async def stop(self, job: Job) -> None:
        """Stop a job that may have been sent and that no task is running (``fleet cancel``
        of a job adopted after a restart): ``canceled``, then its run command deleted."""
        await self._stop(job, self.cancel_reason)

    async def _dispatch(self, job: Job) -> JobState | None:
        """Send the PUT, intent first. Returns a terminal state if it could not be sent."""
        try:
            body = await self._bodies.render(job)
        except FleetError as error:
            return self.mark(job, JobState.ERROR, f"could not prepare the request: {error}")
        # Intent before action: after a crash, DISPATCHED means "the PUT may have been sent";
        # the "PUT sent" note, written right before the PUT leaves, tells resume whether it did.
        # One transaction: attempts + 1 and DISPATCHED, durable before the PUT can leave.
        key = self._key(job)
        note = put_sent_note(self._journal.begin_attempt(key, utc_now()))
        self._emit(JobEvent(job.machine.name, job.step, JobState.DISPATCHED, job.wave, None,
                            job.rollback))
        sent: list[bool] = []

        def on_send() -> None:
            if not sent:
                self._journal.note(key, JobState.DISPATCHED, note)
                sent.append(True)

        self._failpoints.hit("before_put")
        put = asyncio.ensure_future(
            self._arm.put_run_command(job.machine, job.run_command_name, body, on_send=on_send)
        )
        try:
            await asyncio.shield(put)
        except asyncio.CancelledError:
            # Stopped while the PUT is on the wire: let it land (or fail) first, so that the
            # DELETE that stops this job can never overtake it and leave a command running.
            with contextlib.suppress(FleetError):
                await put
            raise
        except OutcomeUnknownError as error:
            return self.mark(job, JobState.UNKNOWN, f"unknown: command gone ({error}); {RESOLVE_HINT}")
        except RunStoppedError:
            raise
        except FleetError as error:
            return self.mark(job, JobState.ERROR, f"dispatch failed: {error}")
        self._failpoints.hit("after_put")
        self._transition(job, JobState.RUNNING, None)
        return None

    async def _reconcile(self, job: Job, prior: JobState) -> RunCommandView | JobState | None:
        """After a restart: what happened to a job that may have been sent? Returns the
        current view (adopt it), None (never sent: send it) or a terminal state.

        A 404 alone proves nothing (someone may have deleted the run command), so it takes a
        second witness: the journal's "PUT sent" note (absent: the PUT never left), ARM's
        acknowledgement (RUNNING: it was sent; never again), the execution's output blob (the
        agent creates it when the execution starts: present, it ran, never again; absent, it
        never started, so sending it now runs it once). Without storage nothing can tell: the
        job is ``unknown`` until the operator resolves it."""
        key = self._key(job)
        try:
            view = await self._arm.get_run_command(job.machine, job.run_command_name)
        except FleetError as error:
            return self.mark(job, JobState.UNKNOWN, f"unknown: could not look the run command up "
                                                    f"after restart ({error}); {RESOLVE_HINT}")
        if view is not None:
            if prior in (JobState.DISPATCHED, JobState.UNKNOWN):
                self._transition(job, JobState.RUNNING, "adopted after restart")
            return view
        row = self._journal.job(key)
        attempt = row.attempts if row is not None else 1
        if prior == JobState.DISPATCHED and not self._journal.noted(key, put_sent_note(attempt)):
            return None  # the PUT never left this machine: sending it now is its first time
        if prior == JobState.RUNNING:
            # ARM acknowledged it before, and fleet deletes only after journaling the result:
            # someone else removed it. Never run it again.
            return await self._vanished(job, "the run command vanished (deleted outside fleet)")
        started = None
        if self._storage is not None:
            try:
                started = await self._storage.exists(job.output_blob)
            except FleetError:
                started = None
        if started:
            return await self._vanished(
                job, "the run command vanished (deleted outside fleet) after it started: its "
                     "output blob exists; not sent again")
        if started is False and prior == JobState.DISPATCHED:
            return None  # never started anywhere: this send is its first execution
        if prior == JobState.UNKNOWN:
            return JobState.UNKNOWN
        witness = "no storage to show whether it started" if self._storage is None else (
            "its output blob could not be read")
        return self.mark(job, JobState.UNKNOWN,
                         f"unknown: command gone (the PUT may have reached ARM, the run command "
                         f"is gone, {witness}); {RESOLVE_HINT}")

    async def recheck(self, job: Job) -> JobState:
        """An ``unknown`` job on resume: adopt its run command if it exists now (then it is
        RUNNING for the rollout to poll), else keep it unknown (or the blob's word)."""
        view = await self._reconcile(job, JobState.UNKNOWN)
        if isinstance(view, JobState):
            return view
        return JobState.RUNNING

    async def _vanished(self, job: Job, reason: str) -> JobState:
        collected = await self._collect(job, None)
        return await self._final(job, JobState.CANCELED, reason, None, collected, delete=False)

    def _on_poll(self, key: str) -> None:
        self._journal.count_poll(key)  # joins the next journal write: a count, not an intent
        self._failpoints.hit("poll")

    # -- steps -----------------------------------------------------------------------------
    async def _finish(self, job: Job, outcome: PollOutcome) -> JobState:
        if not outcome.terminal and not outcome.vanished:
            # One last look before calling it a timeout: slow answers can hide a script that
            # already ended, and stopping it first would misreport it.
            try:
                last = await self._arm.get_run_command(job.machine, job.run_command_name)
            except FleetError:
                last = None
            self._on_poll(self._key(job))
            if last is not None and is_terminal(last):
                outcome = PollOutcome(last, outcome.polls + 1, True)
            elif last is not None:
                outcome = PollOutcome(last, outcome.polls + 1, False, error=outcome.error)
        view = outcome.view
        if outcome.vanished:
            collected = await self._collect(job, view)
            return await self._final(
                job, JobState.CANCELED, "the run command vanished (deleted outside fleet)", view,
                collected, delete=False,
            )
        if not outcome.terminal:
            execution = _lower(view.execution_state if view else None)
            provisioning = _lower(view.provisioning_state if view else None)
            if view is None or (provisioning == "creating" and execution in ("", "pending", "unknown")):
                state = JobState.STUCK
                reason = "provisioning never completed (stuck in Creating)"
            else:
                state = JobState.TIMED_OUT
                reason = f"no end after timeout {job.timeout_s}s + margin"
            if outcome.error:
                reason += f"; last poll error: {outcome.error}"
            # Journal the verdict first, then stop it (it may still be running), then keep
            # whatever output it left: a crash in between never turns it into a re-run.
            self._transition(job, state, reason, reason=reason, ended_at=utc_now(),
                             exit_code=view.exit_code if view else None)
            await self._delete(job)
            collected = await self._collect(job, view)
            notes = "; ".join(r for r in (reason, collected.note) if r)
            self._journal.update_job(self._key(job), reason=self._mask.mask_text(notes),
                                     output=collected.output,
                                     error=collected.error)
            return state
        assert view is not None  # a terminal outcome always carries the view that said so
        collected = await self._collect(job, view)
        state, judged = judge(view, job.success, collected.output_text)
        return await self._final(job, state, judged, view, collected,
                                 delete=not self._options.keep_run_commands)

    async def _final(
        self, job: Job, state: JobState, reason: str | None, view: RunCommandView | None,
        collected: Collected,
        *, delete: bool,
    ) -> JobState:
        """Journal the result, then (and only then) delete the run command: a crash between
        the two leaves a finished job and an orphan resource, never a job run twice."""
        self._failpoints.hit("after_collect")
        notes = [r for r in (reason, collected.note) if r]
        self._transition(
            job,
            state,
            reason,
            event=finished_event_extras(self._journal.job(self._key(job)), collected.output),
            exit_code=view.exit_code if view else None,
            ended_at=utc_now(),
            reason="; ".join(notes) or None,
            output=collected.output,
            error=collected.error,
        )
        self._failpoints.hit("after_terminal")
        if delete:
            await self._delete(job)
        elif self._options.keep_run_commands:
            self._journal.mark_cleaned(self._key(job))
        return state

    async def _collect(self, job: Job, view: RunCommandView | None) -> Collected:
        try:
            return await self._collect_into_run_folder(job, view)
        except OSError as error:
            # Disk full or no permission: stop the run, never report a result without output.
            raise RunStoppedError(
                f"{self._run_dir}: cannot write outputs ({error.strerror or error}); free space "
                "or fix permissions, then `fleet resume`"
            ) from error

    async def _collect_into_run_folder(self, job: Job, view: RunCommandView | None) -> Collected:
        folder = self._run_dir / "output" / self._output_dirs[job.machine.key]
        self._bodies.learn_secrets(job)
        return await self._collector.collect(job, view, folder)

    async def cleanup(self, job: Job) -> None:
        """Delete a finished job's run command left behind by a crash (404 is fine)."""
        await self._delete(job)

    async def _delete(self, job: Job) -> bool:
        """Delete (and so stop) the run command; True once it is gone. A DELETE that failed or
        got an answer fleet cannot read may still have worked: a GET says which (issue #13:
        every ambiguous answer to a mutating call is reconciled)."""
        try:
            if self._before_delete is not None:
                # Production mode: the journal is this worker's, so the result must be durable
                # elsewhere before the run command (the proof that it ran) is gone.
                row = self._journal.job(self._key(job))
                if row is not None:
                    await self._before_delete(row)
        except FleetError as error:
            self._cleanup_failed(job, f"cleanup failed: {error}")
            return False
        try:
            await self._arm.delete_run_command(job.machine, job.run_command_name)
        except FleetError as error:
            try:
                gone = await self._arm.get_run_command(job.machine, job.run_command_name) is None
            except FleetError:
                gone = False
            if not gone:
                self._cleanup_failed(job, f"cleanup failed: {error}; the run command is still "
                                          "there (`fleet resume` deletes it)")
                return False
        self._journal.mark_cleaned(self._key(job))
        return True

    def _cleanup_failed(self, job: Job, detail: str) -> None:
        self._emit(JobEvent(job.machine.name, job.step, JobState.RUNNING, job.wave, detail,
                            job.rollback))

    async def _stop(self, job: Job, reason: str) -> None:
        row = self._journal.job(self._key(job))
        if row is not None and row.state.terminal:
            await self._delete(job)
            return
        self._transition(job, JobState.CANCELED, reason, reason=reason, ended_at=utc_now())
        if not await self._delete(job):
            # Never claim it was stopped when the DELETE did not get through.
            self._journal.update_job(self._key(job), reason=f"{reason}; could not be stopped "
                                     "(DELETE failed): it may still be running")

    # -- bookkeeping -----------------------------------------------------------------------
    def _key(self, job: Job) -> str:
        return job_key(job.machine, job.step, job.rollback)

    def _transition(
        self, job: Job, state: JobState, detail: str | None, *,
        event: Mapping[str, Any] | None = None, **fields: Any,
    ) -> None:
        if detail is not None:
            detail = self._mask.mask_text(detail)
        if isinstance(fields.get("reason"), str):
            fields["reason"] = self._mask.mask_text(fields["reason"])
        if event and isinstance(event.get("first_line"), str):
            event = {**event, "first_line": self._mask.mask_text(event["first_line"])}
        self._journal.transition(self._key(job), state, detail, **fields)
        self._emit(JobEvent(job.machine.name, job.step, state, job.wave, detail, job.rollback,
                            **(event or {})))
