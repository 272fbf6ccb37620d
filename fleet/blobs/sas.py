"""SAS links for exactly one blob, with the least rights and a bounded lifetime.

Two rights sets only: ``racw`` for the output/error append blobs the agent creates and appends
to (read so the service may check it, add to append, create and write to make the blob), and
``r`` for an uploaded script. Always ``sr=b`` (one blob), never a container or account SAS.
Signed with the account key (service SAS) or with a user delegation key (Entra sign-in).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas

from fleet.errors import StorageError
from fleet.redact import mask_account_keys, mask_signatures

__all__ = [
    "MAX_SAS_LIFETIME",
    "MIN_SAS_LIFETIME",
    "READ_ONLY",
    "RUN_COMMAND_RIGHTS",
    "blob_sas_url",
    "clamp_expiry",
    "redact",
]

RUN_COMMAND_RIGHTS = "racw"
READ_ONLY = "r"
# A SAS that expires while the agent is still writing loses output silently, and clocks on
# Arc hosts drift: never hand out less than this, whatever expiry the caller asked for.
MIN_SAS_LIFETIME = timedelta(minutes=15)
# A user delegation key lives at most 7 days; an output link never needs longer.
MAX_SAS_LIFETIME = timedelta(days=7)

def redact(text: str) -> str:
    """Remove SAS signatures and account keys from a message or URL."""
    return mask_account_keys(mask_signatures(text))


def clamp_expiry(expires_at: datetime, now: datetime) -> datetime:
    """Bring a requested expiry into [now + MIN_SAS_LIFETIME, now + MAX_SAS_LIFETIME]."""
    if expires_at.tzinfo is None:
        raise StorageError("SAS expiry must be timezone-aware (UTC)")
    return min(max(expires_at, now + MIN_SAS_LIFETIME), now + MAX_SAS_LIFETIME)


def blob_sas_url(
    blob_endpoint: str,
    account_name: str,
    container: str,
    blob_name: str,
    *,
    rights: str,
    expires_at: datetime,
    account_key: str | None = None,
    user_delegation_key: UserDelegationKey | None = None,
) -> str:
    """The URL of one blob with a SAS carrying ``rights`` (``racw`` or ``r``) until
    ``expires_at`` (already clamped by the caller), signed by exactly one of the two keys."""
    if rights not in (RUN_COMMAND_RIGHTS, READ_ONLY):
        raise StorageError(f"refusing to sign SAS rights {rights!r}: only racw or r")
    if (account_key is None) == (user_delegation_key is None):
        raise StorageError("a blob SAS needs exactly one of an account key or a user delegation key")
    if not blob_name or blob_name.endswith("/") or len(blob_name) > 1024:
        raise StorageError(f"invalid blob name {blob_name!r}")
    permission = BlobSasPermissions.from_string(rights)
    token = generate_blob_sas(
        account_name,
        container,
        blob_name,
        account_key=account_key,
        user_delegation_key=user_delegation_key,
        permission=permission,
        expiry=expires_at,
    )
    return f"{blob_endpoint.rstrip('/')}/{container}/{quote(blob_name, safe='/~')}?{token}"
