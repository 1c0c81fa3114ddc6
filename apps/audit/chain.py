"""The tamper-evident hash chain over audit events: the canonical form of an event and its hash.

Every event stores `prev_hash` (the hash of the event written just before it) and `hash`, the
SHA-256 of its canonical serialization, which includes `prev_hash`. Editing any stored field of a
row changes its hash; deleting a row breaks the next row's link. Both are found by
`audit_chain_verify()` (`manage.py audit_verify`).

Canonical serialization (version 1, fixed: changing it invalidates every stored hash):
JSON with sorted keys, no whitespace (`separators=(",", ":")`), non-ASCII escaped, of

    id          integer
    at          "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, always six fractional digits)
    user_id     integer or null
    username    string
    agency_id   integer or null
    action      string
    object_type string
    object_id   string
    reason      string
    detail      the JSON object as PostgreSQL's jsonb gives it back
    ip          string as PostgreSQL's inet gives it back, or null
    prev_hash   string ("" for the first event ever written)

`hash` is the lowercase hex SHA-256 of that text encoded as UTF-8.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

# pg_advisory_xact_lock key serializing every chain append in the database, across processes. It
# is an arbitrary fixed number (ASCII "rtccaudt"); nothing else in the project may use it.
AUDIT_CHAIN_LOCK_KEY = 0x7274_6363_6175_6474

# The hashed fields, in the order the CSV export and the docs list them.
CHAIN_FIELDS = (
    "id",
    "at",
    "user_id",
    "username",
    "agency_id",
    "action",
    "object_type",
    "object_id",
    "reason",
    "detail",
    "ip",
    "prev_hash",
)


def format_at(at: datetime) -> str:
    """`at` in the canonical text form: UTC, microseconds always written."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """The canonical serialization of one event (see the module docstring)."""
    payload = {name: fields[name] for name in CHAIN_FIELDS}
    payload["at"] = format_at(fields["at"])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("utf-8")


def event_hash(fields: dict[str, Any]) -> str:
    """Hex SHA-256 over the canonical serialization of one event's fields (including prev_hash)."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()
