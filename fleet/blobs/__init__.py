"""Blob storage for a run: SAS links for output/error append blobs, script upload, capped
download into the run folder, and robust decoding of what was downloaded."""

from __future__ import annotations

from fleet.blobs.decode import decode_output, excerpt_of
from fleet.blobs.download import capture_from_text
from fleet.blobs.sas import MIN_SAS_LIFETIME, redact
from fleet.blobs.store import LARGE_SCRIPT_THRESHOLD_BYTES, RunStorage, container_name

__all__ = [
    "LARGE_SCRIPT_THRESHOLD_BYTES",
    "MIN_SAS_LIFETIME",
    "RunStorage",
    "capture_from_text",
    "container_name",
    "decode_output",
    "excerpt_of",
    "redact",
]
