"""`fleet temporal dev`: one JSON ready line, loopback only, state in the SQLite file, stopped
(with its server child) by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from fleet.production.devserver import free_port


def test_temporal_dev_prints_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    db = tmp_path / "dev.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "temporal", "dev", "--port", str(port), "--ui-port",
         str(ui_port), "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["address"] == f"127.0.0.1:{port}" and ready["namespace"] == "default"
        assert ready["ui_url"] == f"http://127.0.0.1:{ui_port}"
        assert db.exists()
        child = int(ready["pid"])
        os.kill(child, 0)  # the server is running
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            pass
        else:  # reaped by now, or a zombie of init: it must not still serve
            import socket

            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
