from rest_framework import serializers

from ..choices import FeedHealth
from ..models import DeadLetter, FeedSource


class FeedSourceSerializer(serializers.ModelSerializer):
    """A source and its health (no secrets: the token is shown only by its first characters)."""

    stale = serializers.BooleanField(source="is_stale")
    health = serializers.ChoiceField(choices=FeedHealth.choices, read_only=True)

    class Meta:
        model = FeedSource
        fields = (
            "id",
            "name",
            "kind",
            "mode",
            "url",
            "poll_interval",
            "expected_interval",
            "enabled",
            "token_hint",
            "accepted_count",
            "rejected_count",
            "unit_ids",
            "units_created_count",
            "units_updated_count",
            "ambiguous_count",
            "ignored_count",
            "last_success_at",
            "last_error_at",
            "last_error",
            "misconfigured_reason",
            "stale",
            "health",
        )


class DeadLetterSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = ("id", "received_at", "index", "line", "field", "reason", "raw")
