"""A real Temporal dev server for production-mode tests: free loopback ports, its SQLite file
in a temp folder, stopped by its own PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("temporalio")

from fleet.errors import UsageError
from fleet.production.devserver import DevServer, start_dev_server


def start_server(folder: Path, *, port: int | None = None, db: Path | None = None) -> DevServer:
    try:
        return start_dev_server(port=port, db_file=db or folder / "temporal.sqlite", headless=True,
                                log_file=folder / "temporal.log", ready_timeout_s=90)
    except UsageError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_server(tmp_path_factory.mktemp("temporal"))
    try:
        yield server
    finally:
        server.stop()
