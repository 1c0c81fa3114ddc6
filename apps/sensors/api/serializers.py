from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..choices import AckOutcome
from ..models import Alert, GunshotDetection


class GunshotSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = GunshotDetection
        geo_field = "location"
        fields = ("id", "location", "detected_at", "rounds", "kind", "confidence", "source", "source_id", "attributes")


class AlertSerializer(GeoFeatureModelSerializer):
    """The feature's geometry is the representative point (null when the alert has no place); `area`
    is the GeoJSON MultiPolygon it covers, when the source gave one (or its geocodes matched zones)."""

    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    area = GeometryField(read_only=True, allow_null=True)

    class Meta:
        model = Alert
        geo_field = "location"
        fields = (
            "id",
            "kind",
            "title",
            "detail",
            "location",
            "raised_at",
            "status",
            "acknowledged_by",
            "acknowledged_at",
            "ack_note",
            "ack_outcome",
            "gunshot",
            "alpr_read",
            "area",
            "area_desc",
            "expires_at",
            "closed_at",
            "close_reason",
        )


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    outcome = serializers.ChoiceField(choices=AckOutcome.choices, required=False, allow_blank=True, default="")
