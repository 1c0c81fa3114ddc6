"""`manage.py audit_checkpoint`: append a signed checkpoint of the audit chain's head now (Celery beat does it
every RTCC_AUDIT_CHECKPOINT_MINUTES)."""

from django.core.management.base import BaseCommand

from apps.audit.checkpoints import audit_checkpoint_write, checkpoint_path


class Command(BaseCommand):
    help = "Append one HMAC-signed checkpoint of the audit chain's head to RTCC_AUDIT_CHECKPOINT_PATH."

    def handle(self, *args, **options):
        record = audit_checkpoint_write()
        self.stdout.write(
            f"checkpoint written to {checkpoint_path()}: head event {record['head_id']} "
            f"({record['count']} events), hash {record['head_hash'] or '-'}"
        )
