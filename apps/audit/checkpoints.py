"""Signed checkpoints of the audit chain's head, kept outside the database.

The hash chain (chain.py) shows that no row was changed or cut from the middle, but whoever may rewrite the
table (the owner role, a superuser) can delete the newest rows, or rewrite history and recompute every hash after
it, and the chain still verifies. So every few minutes (Celery beat, `manage.py audit_checkpoint`) the head of the
chain is written to an append-only file as one JSON line, signed with HMAC-SHA256 under a key that is not in the
database (RTCC_AUDIT_CHECKPOINT_KEY):

    {"count": 1234, "first_id": 1, "head_at": "2026-12-02T09:00:00.123456Z", "head_hash": "ab12...",
     "head_id": 1234, "kid": "3f9a0c1b2d4e", "mac": "<hex HMAC-SHA256>",
     "purged_before": "2019-12-04T09:00:00.000000Z", "purged_hash": "cd34...", "purged_id": 17, "v": 2,
     "written_at": "2026-12-02T09:00:01.000000Z"}

`mac` is the HMAC of the same object without `mac`, serialized as the chain serializes events (sorted keys, no
whitespace, ASCII); `kid` names the key (a hash of it) so a line signed with another key is told apart from an
altered one. `purged_*` sign the purge ledger as it stood (AuditPurge, written only by the database function
audit_purge_batch): the newest event the purge removed, its hash, and the latest cut-off it applied (null: none
yet); version 1 lines, written before the ledger, have no such fields. `audit_checkpoints_verify()` then checks each
line's signature, that the ledger still holds the purges the lines signed, and that each checkpointed head is still
in the table with the same hash, or was removed by a purge that a later line signed (`purged_id` at least the head,
the head older than `purged_before`). An audit event claiming a purge proves nothing: the app role may insert any.
Where the trail now starts is checked by the chain walk against the same ledger (services.audit_chain_verify).
The file should be append-only for the writing user (`chattr +a`) and shipped off the host; the lines are also
logged (logger `rtcc.audit.checkpoint`), and RTCC_AUDIT_CHECKPOINT_SYSLOG sends them to syslog, off the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from .chain import format_at
from .models import AuditEvent, AuditPurge

log = logging.getLogger("rtcc.audit.checkpoint")

VERSION = 2
FIELDS_V1 = ("v", "written_at", "head_id", "head_hash", "head_at", "count", "first_id", "kid", "mac")
PURGE_FIELDS = ("purged_id", "purged_hash", "purged_before")
FIELDS = FIELDS_V1 + PURGE_FIELDS

_HEAD = """
SELECT (SELECT count(*) FROM audit_auditevent),
       (SELECT min(id) FROM audit_auditevent),
       h.id, h.hash, h.at,
       p.last_id, p.last_hash, (SELECT max(cutoff) FROM audit_auditpurge)
FROM (SELECT 1) one
LEFT JOIN (SELECT id, hash, at FROM audit_auditevent ORDER BY id DESC LIMIT 1) h ON true
LEFT JOIN (SELECT last_id, last_hash FROM audit_auditpurge ORDER BY last_id DESC LIMIT 1) p ON true
"""


def checkpoint_key() -> bytes:
    """RTCC_AUDIT_CHECKPOINT_KEY; in development (DEBUG) without it, the key scripts/local_env.sh keeps in
    var/audit/checkpoint.key, read only: that script is the one place a local key is made."""
    key = settings.RTCC_AUDIT_CHECKPOINT_KEY
    if key:
        return key.encode()
    path = Path(settings.RTCC_AUDIT_CHECKPOINT_KEY_FILE)
    if settings.DEBUG and path.is_file() and path.read_text().strip():
        return path.read_text().strip().encode()
    raise ImproperlyConfigured(
        f"RTCC_AUDIT_CHECKPOINT_KEY is not set (in development, `source scripts/local_env.sh` makes one in {path})"
    )


def key_id(key: bytes) -> str:
    """A short public name for a key (a hash of it), written on each line."""
    return hashlib.sha256(b"rtcc-audit-checkpoint-key\x00" + key).hexdigest()[:12]


def _mac(record: dict[str, Any], key: bytes) -> str:
    payload = {name: value for name, value in record.items() if name != "mac"}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def checkpoint_path() -> Path:
    return Path(settings.RTCC_AUDIT_CHECKPOINT_PATH)


def audit_checkpoint_write(*, path: Path | None = None, key: bytes | None = None) -> dict[str, Any]:
    """Append one signed checkpoint of the chain's head (an empty trail has none: head fields null)."""
    key = key or checkpoint_key()
    path = Path(path or checkpoint_path())
    with connection.cursor() as cur:  # one statement: one snapshot
        cur.execute(_HEAD)
        count, first_id, head_id, head_hash, head_at, purged_id, purged_hash, purged_before = cur.fetchone()
    record: dict[str, Any] = {
        "v": VERSION,
        "written_at": format_at(timezone.now()),
        "head_id": head_id,
        "head_hash": head_hash,
        "head_at": format_at(head_at) if head_at else None,
        "count": count,
        "first_id": first_id,
        "kid": key_id(key),
        "purged_id": purged_id,
        "purged_hash": purged_hash,
        "purged_before": format_at(purged_before) if purged_before else None,
    }
    record["mac"] = _mac(record, key)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: every write lands at the end, whatever else has the file open; one write() of one short line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit checkpoint %s", line.strip())
    return record


@dataclass
class CheckpointReport:
    """What the checkpoint file says about the trail: how many lines were checked, and every problem found."""

    path: Path
    present: bool = True
    checked: int = 0
    newest: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.present:
            return f"no checkpoints yet at {self.path} (`manage.py audit_checkpoint` writes one)"
        if self.problems:
            return f"checkpoints at {self.path}: {len(self.problems)} problem(s):\n  " + "\n  ".join(self.problems)
        newest = self.newest or {}
        return (
            f"{self.checked} checkpoints verified at {self.path} (newest {newest.get('written_at')}, "
            f"head event {newest.get('head_id')})"
        )


def _parse(raw: str) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("v") not in (1, VERSION):
        return None
    if set(record) != set(FIELDS if record["v"] == VERSION else FIELDS_V1):
        return None
    return record


def _covered(record: dict[str, Any], later: list[tuple[int, dict[str, Any]]]) -> bool:
    """Whether a later line signed a ledger purge that removed this line's head: up to it or beyond, with a
    cut-off after the head was written (format_at's fixed-width UTC text sorts as time does)."""
    return any(
        line["purged_id"] is not None
        and line["purged_id"] >= record["head_id"]
        and record["head_at"] is not None
        and record["head_at"] < line["purged_before"]
        for _, line in later
    )


def audit_checkpoints_verify(*, path: Path | None = None, key: bytes | None = None) -> CheckpointReport:
    """Check every checkpoint line against the table (see the module docstring); each problem is named."""
    key = key or checkpoint_key()
    report = CheckpointReport(path=Path(path or checkpoint_path()))
    if not report.path.exists():
        report.present = False
        return report
    kid = key_id(key)
    valid: list[tuple[int, dict[str, Any]]] = []
    with report.path.open(encoding="ascii", errors="replace") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            record = _parse(raw)
            if record is None:
                report.problems.append(f"checkpoint line {number}: not a checkpoint line (altered or inserted)")
            elif record["kid"] != kid:
                report.problems.append(
                    f"checkpoint line {number}: signed with another key (key id {record['kid']}, ours {kid}): "
                    "a forged line, or RTCC_AUDIT_CHECKPOINT_KEY is not the key that wrote it"
                )
            elif not hmac.compare_digest(str(record["mac"]), _mac(record, key)):
                report.problems.append(f"checkpoint line {number}: HMAC does not match: the line was forged or altered")
            else:
                valid.append((number, {**dict.fromkeys(PURGE_FIELDS), **record}))
    report.checked = len(valid)
    if not valid:
        return report
    report.newest = valid[-1][1]

    heads = {r["head_id"] for _, r in valid if r["head_id"] is not None}
    stored = dict(AuditEvent.objects.filter(id__in=heads).values_list("id", "hash"))
    first = AuditEvent.objects.order_by("id").values("id", "prev_hash").first()
    last_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    ledger = dict(AuditPurge.objects.values_list("last_id", "last_hash"))

    signed = {(r["purged_id"], r["purged_hash"]): number for number, r in valid if r["purged_id"] is not None}
    for (purged_id, purged_hash), number in sorted(signed.items(), key=lambda item: item[1]):
        if ledger.get(purged_id) != purged_hash:
            report.problems.append(
                f"checkpoint line {number}: the purge ledger no longer records the purge up to event {purged_id} "
                f"(hash {purged_hash}) that the line signed: the ledger was rewritten"
            )

    for index, (number, record) in enumerate(valid):
        head = record["head_id"]
        if head is None:
            continue
        when = record["written_at"]
        if head in stored:
            if stored[head] != record["head_hash"]:
                report.problems.append(
                    f"checkpoint line {number} ({when}): event {head} now has hash {stored[head]}, the checkpoint "
                    f"signed {record['head_hash']}: history up to it was rewritten and re-chained"
                )
        elif (first is not None and head >= first["id"]) or not _covered(record, valid[index + 1 :]):
            report.problems.append(
                f"checkpoint line {number} ({when}): event {head}, then the head of the chain, is gone and no "
                "retention purge signed by a later checkpoint removed it (the table now ends at "
                f"{last_id or 'nothing: it is empty'}): events were deleted"
            )
    return report
