"""The live display as a person sees it: ``fleet run`` under a real pseudo-terminal (80x24)
against the simulator. The run folder comes first, the timer ticks while nothing happens,
totals are the plan's, every line fits 80 columns, colour only where it may."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import itertools
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from fleet_sim.azurite import Azurite
from fleet_sim.config import load_profile
from fleet_sim.server import SimServer
from tests.cli.helpers import ROOT, fleet, inventory, playbook, sim_env
from tests.fixtures.sim import SimFactory

# "slow" scripts run 250 simulated s (the playbook's timeout is 300 s): 2.5 s of wall time at
# the tests' scale, with no event.
PROFILE = "agent:\n  rules:\n    - match: {script: slow}\n      duration_s: 250\n"
ROLLOUT = "rollout:\n  waves: [\"100%\"]\n  max_concurrency: 100\n"
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
TIMER = re.compile(r"\[\s*((?:\d+h)?(?:\d+m)?\d+s)\] (.*)")


class Screen:
    """Everything the child wrote to the terminal, read by a thread."""

    def __init__(self, fd: int) -> None:
        self.raw = b""
        self._fd = fd
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.raw += chunk

    def text(self) -> str:
        return self.raw.decode(errors="replace")

    def fragments(self) -> list[str]:
        """What each redraw left on a line: escapes removed, split at CR and LF."""
        plain = ESCAPE.sub("", self.text())
        return [f for f in re.split(r"[\r\n]", plain) if f.strip()]

    def timers(self) -> list[tuple[int, str]]:
        """(elapsed seconds, rest of the line) of every render of the live line, in order."""
        out = []
        for fragment in self.fragments():
            match = TIMER.search(fragment)
            if match:
                out.append((_seconds(match.group(1)), match.group(2)))
        return out


def _seconds(text: str) -> int:
    total = 0
    for value, unit in re.findall(r"(\d+)([hms])", text):
        total += int(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


async def _until(condition: object, what: str, screen: Screen, timeout_s: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}: {screen.fragments()[-20:]}"
        await asyncio.sleep(0.05)


async def _slow_sim(sim_factory: SimFactory, tmp_path: Path) -> SimServer:
    profile_file = tmp_path / "profile.yaml"
    profile_file.write_text(PROFILE, encoding="utf-8")
    profile = load_profile(profile_file)
    behaviour = dataclasses.replace(profile.behaviour, lro_retry_after_s=0)
    return await sim_factory(machines=12, tls=True, profile=dataclasses.replace(profile, behaviour=behaviour))


async def test_live_display_under_a_pty(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    sim = await _slow_sim(sim_factory, tmp_path)
    env = sim_env(sim, storage=azurite.connection_string, TERM="xterm-256color")
    env.pop("NO_COLOR")
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, script="slow; echo done", extra=ROLLOUT)
    planned = sum(1 for m in sim.machines if m.os_type == "linux")
    run_dir = tmp_path / "run"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(  # noqa: ASYNC220 - a pty child; its wait runs in a thread
        [sys.executable, "-m", "fleet", "run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(run_dir)],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True,
    )
    os.close(slave)
    screen = Screen(master)
    try:
        # The scripts run 4 s with no event: the live line is redrawn with a moving timer
        # while its counts stay the same.
        def ticked_without_events() -> bool:
            running = [(t, rest) for t, rest in screen.timers() if "run=" in rest and "ok=" not in rest]
            return any(t1 < t2 and r1 == r2 for (t1, r1), (t2, r2) in itertools.pairwise(running))

        await _until(ticked_without_events, "the timer to move while nothing else does", screen)
        await asyncio.to_thread(process.wait, 180)
        await _until(lambda: "report:" in screen.text(), "the report line", screen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert process.returncode in (0, 4), screen.fragments()[-30:]
    fragments = screen.fragments()
    assert fragments[0].startswith("run ")
    assert f"folder {run_dir}" in fragments[0], fragments[:3]  # before anything else
    totals = {rest.split("all ")[1].split(" jobs")[0] for _t, rest in screen.timers() if "all " in rest}
    assert totals and all(t.endswith(f"/{planned}") for t in totals), totals  # the plan's total
    wave = [rest for _t, rest in screen.timers() if "wave 1/1 " in rest]
    assert wave and all(f"/{planned}" in rest.split("wave 1/1 ")[1].split(" ")[0] for rest in wave)
    # (a line naming the run folder is as long as its path: the only exception)
    too_wide = [f for f in fragments if len(f) > 80 and str(tmp_path) not in f]
    assert not too_wide, too_wide
    assert re.search(r"\x1b\[3[1-6]m", screen.text())  # colour on a terminal
    assert any("ETA" in rest or f"{planned}/{planned}" in rest for _t, rest in screen.timers())


async def test_no_colour_when_not_a_terminal_or_no_color(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(tls=True)
    env = sim_env(sim)  # NO_COLOR=1, and stdout is a pipe
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, extra=ROLLOUT)
    ran = await fleet("run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(tmp_path / "r"), "-v", env=env)
    assert ran.code in (0, 4), ran.both
    assert "\x1b[" not in ran.both
    assert ran.out.splitlines()[0].startswith("run ") and f"folder {tmp_path / 'r'}" in ran.out.splitlines()[0]
    verbose = [line for line in ran.out.splitlines() if ": succeeded in " in line]
    # duration and the first line of the output (the simulated agent's own first line)
    assert verbose and all(": fleet-sim: machine=" in line for line in verbose), verbose
    assert all(len(line) <= 80 for line in ran.out.splitlines() if str(tmp_path) not in line)
