"""The one way to write an audit event, and the check that the trail has not been tampered with."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from .chain import AUDIT_CHAIN_LOCK_KEY, CHAIN_FIELDS, event_hash
from .models import AuditEvent, AuditPurge

log = logging.getLogger(__name__)

# One round trip after the lock: the next id, the database clock, and detail/ip exactly as the
# database will hand them back on a later read (jsonb reorders keys and rewrites numbers, inet
# normalizes addresses); hashing those, not our input, keeps the hash reproducible. Then the
# latest event's hash, which is the new event's prev_hash (when the purge removed every event: the hash of the last
# one it removed, from its ledger, so the chain still runs on from there).
_ALLOCATE = """
SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id')),
       clock_timestamp(),
       %s::jsonb,
       %s::inet,
       COALESCE((SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1),
                (SELECT last_hash FROM audit_auditpurge ORDER BY last_id DESC LIMIT 1))
"""


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _clean(value: Any) -> Any:
    """Drop NUL characters anywhere in the value: PostgreSQL refuses them in text and jsonb, and a
    query string an attacker controls must not be able to make the audited act fail."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def audit_record(
    *,
    user,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    reason: str = "",
    detail: dict | None = None,
    request=None,
    agency_id: int | None = None,
    username: str = "",
) -> AuditEvent:
    """Write one audit event, chained to the previous one.

    `agency_id` defaults to the user's agency (give it for system acts, or to file the event under
    the agency it concerns). `username` names who was claimed when nobody is signed in (a failed
    login); a signed-in user's own name always wins.

    Race-free across processes: a transaction-scoped advisory lock serializes appends, so two
    writers never read the same previous hash. The lock is held until the caller's outermost
    transaction ends, so call this last in a transaction, not at the start of a long one.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    # Callers may pass datetimes, UUIDs or Decimals; they are stored (and hashed) as their JSON text.
    detail_json = json.dumps(_clean(detail or {}), cls=DjangoJSONEncoder)
    ip = _client_ip(request)
    fields: dict[str, Any] = {
        "user_id": user.pk if authenticated else None,
        "username": _clean(user.get_username() if authenticated else username)[:150],
        "agency_id": agency_id or (getattr(user, "agency_id", None) if authenticated else None),
        "action": str(action),
        "object_type": _clean(str(object_type))[:64],
        "object_id": _clean(str(object_id))[:64],
        "reason": _clean(reason or ""),
    }
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK_KEY])
            cur.execute(_ALLOCATE, [detail_json, ip])
            new_id, at, stored_detail, stored_ip, prev_hash = cur.fetchone()
        fields.update(
            id=new_id,
            at=at,
            detail=json.loads(stored_detail) if isinstance(stored_detail, str) else stored_detail,
            ip=stored_ip,
            prev_hash=prev_hash or "",
        )
        return AuditEvent.objects.create(**fields, hash=event_hash(fields))


def audit_record_throttled(*, throttle_key: str, seconds: int, **kwargs: Any) -> AuditEvent | None:
    """`audit_record`, but at most once per `throttle_key` per `seconds` (None when skipped).

    For looks that repeat automatically (the map polling hotlist hits as it pans): one event says
    the user was watching, without thousands burying the deliberate acts. The window lives in the
    shared cache (Redis) so every process honours it.
    """
    key = f"audit:throttle:{throttle_key}"
    try:
        first = cache.add(key, 1, timeout=seconds)
    except Exception:  # any cache failure: a duplicate event beats a missing one
        log.warning("audit throttle cache unavailable; recording %s anyway", throttle_key, exc_info=True)
        first = True
    if not first:
        return None
    try:
        return audit_record(**kwargs)
    except BaseException:
        # Nothing was recorded, so the next look must not be skipped as "already on record".
        with contextlib.suppress(Exception):
            cache.delete(key)
        raise


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking the chain: OK with how much was checked, or the first broken link."""

    ok: bool
    checked: int
    first_id: int | None = None
    last_id: int | None = None
    head_hash: str = ""
    broken_id: int | None = None
    problem: str = ""

    def summary(self) -> str:
        if not self.ok:
            return f"BROKEN at audit event {self.broken_id}: {self.problem}"
        if not self.checked:
            return "OK: the audit trail is empty"
        return (
            f"OK: {self.checked} audit events verified (ids {self.first_id}..{self.last_id}); "
            f"head hash {self.head_hash}"
        )


def _chunks(chunk_size: int) -> Iterator[list[dict[str, Any]]]:
    """Every event in id order, `chunk_size` at a time (keyset pagination: no growing OFFSET)."""
    last_id = 0
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id").values(*CHAIN_FIELDS, "hash")[:chunk_size])
        if not rows:
            return
        yield rows
        last_id = rows[-1]["id"]


def _purged_upto() -> dict[str, Any] | None:
    """The newest event the retention purge removed, from its ledger (written only by the database function
    audit_purge_batch; an audit event claiming a purge proves nothing, the app role may insert any)."""
    return AuditPurge.objects.order_by("-last_id").values("last_id", "last_hash").first()


def _walk(chunk_size: int) -> VerifyResult:
    checked = 0
    first_id: int | None = None
    prev: dict[str, Any] | None = None
    purged = _purged_upto()
    for rows in _chunks(chunk_size):
        for row in rows:
            if prev is None:
                # The first remaining row's predecessor is nothing, or the last event the purge's ledger says
                # it removed (the purge takes the oldest rows, so that one is gone by design).
                expected = purged["last_hash"] if purged and purged["last_id"] < row["id"] else ""
                if row["prev_hash"] != expected:
                    return VerifyResult(
                        ok=False,
                        checked=0,
                        broken_id=row["id"],
                        problem=(
                            f"the trail now starts at event {row['id']}, whose predecessor (hash "
                            f"{row['prev_hash'] or '(empty)'}) was not removed by the retention purge (its ledger "
                            f"ends at {purged['last_id'] if purged else 'nothing'}): events at the start of the "
                            "trail were deleted"
                        ),
                    )
            elif row["prev_hash"] != prev["hash"]:
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    first_id=first_id,
                    last_id=prev["id"],
                    broken_id=row["id"],
                    problem=(
                        f"prev_hash {row['prev_hash'] or '(empty)'} is not the hash of the previous event "
                        f"{prev['id']} ({prev['hash']}): an event between them was removed, or event "
                        f"{prev['id']} was rewritten"
                    ),
                )
            expected = event_hash(row)
            if row["hash"] != expected:
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    first_id=first_id,
                    last_id=prev["id"] if prev else None,
                    broken_id=row["id"],
                    problem=(
                        f"hash mismatch: stored {row['hash'] or '(empty)'}, recomputed {expected}; "
                        "the event's content was changed"
                    ),
                )
            if first_id is None:
                first_id = row["id"]
            checked += 1
            prev = row
    return VerifyResult(
        ok=True,
        checked=checked,
        first_id=first_id,
        last_id=prev["id"] if prev else None,
        head_hash=prev["hash"] if prev else "",
    )


def audit_chain_verify(*, chunk_size: int = 2000) -> VerifyResult:
    """Recompute every event's hash in id order and check each link to the one before.

    Runs in one REPEATABLE READ snapshot when it can, so a purge or new events committed while it
    walks cannot look like a broken link. Deleting the newest events leaves no broken link; compare
    the reported head hash with one noted earlier to detect that.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if connection.in_atomic_block:
        return _walk(chunk_size)
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _walk(chunk_size)
