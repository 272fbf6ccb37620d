"""Blob storage for a run: SAS links for output/error append blobs, script upload, capped
download into the run folder, and robust decoding of what was downloaded."""

from __future__ import annotations

from fleet.blobs.decode import decode_output, excerpt_of
from fleet.blobs.download import capture_from_text, mask_kept_output
from fleet.blobs.sas import MIN_SAS_LIFETIME, redact
from fleet.blobs.store import RunStorage, container_name

__all__ = [
    "MIN_SAS_LIFETIME",
    "RunStorage",
    "capture_from_text",
    "container_name",
    "decode_output",
    "excerpt_of",
    "mask_kept_output",
    "redact",
]
