"""`manage.py recompute_beats --agency CODE`: put every incident of an agency in the beat that covers it now.

Run it after redrawing an agency's beats (zones of kind beat). Loading a new beat already fills in the
incidents without one; this also moves incidents whose beat changed, and clears the beat of those no beat
covers any more.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.accounts.models import Agency
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.incidents.beats import incident_beats_recompute
from apps.incidents.bulk import incident_publish_changes


class Command(BaseCommand):
    help = "Recompute the beat of every incident of one agency from its current beat zones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agency", required=True, help="agency code")

    def handle(self, *args, agency: str, **options) -> None:
        found = Agency.objects.filter(code=agency).first()
        if found is None:
            known = ", ".join(Agency.objects.order_by("code").values_list("code", flat=True)) or "none"
            raise CommandError(f"unknown agency code {agency!r} (known: {known})")
        with transaction.atomic():
            ids = incident_beats_recompute(agency_id=found.pk)
            changed = len(ids)
            # On the maps too (the beat is part of an incident's feature): each, or one reload for many.
            incident_publish_changes(agency_id=found.pk, ids=ids)
            audit_record(
                user=None,
                action=AuditAction.IMPORT,
                object_type="incidents",
                agency_id=found.pk,
                detail={"operation": "recompute_beats", "agency": found.code, "changed": changed},
            )
        self.stdout.write(f"{found.code}: {changed} incidents changed beat")
