"""`manage.py audit_verify`: check the audit trail's hash chain and the signed checkpoints of its head; exit 1
naming every problem (a broken link, a rewritten or re-chained history, deleted newest rows, a forged line)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.audit.checkpoints import audit_checkpoints_verify
from apps.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Recompute every audit event's hash in id order, then check the chain against the signed checkpoints "
        "(RTCC_AUDIT_CHECKPOINT_PATH); report OK with the counts, or every problem found."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=2000, help="events read per query (default 2000)")
        parser.add_argument("--checkpoints", type=Path, help="checkpoint file (default RTCC_AUDIT_CHECKPOINT_PATH)")
        parser.add_argument("--no-checkpoints", action="store_true", help="check the hash chain only")

    def handle(self, *args, chunk_size: int, checkpoints: Path | None, no_checkpoints: bool, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        chain = audit_chain_verify(chunk_size=chunk_size)
        problems = [] if chain.ok else [chain.summary()]
        lines = [chain.summary()] if chain.ok else []
        if not no_checkpoints:
            report = audit_checkpoints_verify(path=checkpoints)
            if report.ok:
                lines.append(report.summary())
            else:
                problems.append(report.summary())
        if problems:
            # CommandError prints to stderr and makes manage.py exit with status 1.
            raise CommandError("\n".join(problems))
        for line in lines:
            self.stdout.write(self.style.SUCCESS(line))
