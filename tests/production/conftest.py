"""Production-mode tests need temporalio (the ``temporal`` extra, part of ``dev``); the
session's Temporal dev server is ``tests.fixtures.temporal.temporal_server``."""

from __future__ import annotations

import pytest

pytest.importorskip("temporalio")
