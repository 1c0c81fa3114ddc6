"""The audit trail as auditors read it, chain hashes included (they can be checked independently)."""

from rest_framework import serializers

from ..models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "at",
            "user",
            "username",
            "agency",
            "action",
            "object_type",
            "object_id",
            "reason",
            "detail",
            "ip",
            "prev_hash",
            "hash",
        )
