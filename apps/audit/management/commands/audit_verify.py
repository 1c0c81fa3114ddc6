"""`manage.py audit_verify`: check the audit trail's hash chain; exit 1 at the first broken link."""
from django.core.management.base import BaseCommand, CommandError

from apps.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute every audit event's hash in id order; report OK with the count, or the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=2000, help="events read per query (default 2000)")

    def handle(self, *args, chunk_size: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        result = audit_chain_verify(chunk_size=chunk_size)
        if not result.ok:
            # CommandError prints to stderr and makes manage.py exit with status 1.
            raise CommandError(result.summary())
        self.stdout.write(self.style.SUCCESS(result.summary()))
