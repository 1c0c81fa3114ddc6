from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..models import Incident, NarrativeEntry

LIST_FIELDS = (
    "id",
    "cad_number",
    "type_code",
    "type_description",
    "priority",
    "status",
    "call_source",
    "disposition",
    "address",
    "location",
    "location_approximate",
    "beat",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "closed_at",
    "source",
)


class IncidentSerializer(GeoFeatureModelSerializer):
    beat = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Incident
        geo_field = "location"
        fields = LIST_FIELDS


class NarrativeSerializer(serializers.ModelSerializer):
    class Meta:
        model = NarrativeEntry
        fields = ("entered_at", "author", "text")


class AssignedUnitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    call_sign = serializers.CharField()


class IncidentDetailSerializer(IncidentSerializer):
    narrative = NarrativeSerializer(many=True, read_only=True)
    assigned_units = AssignedUnitSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = (*LIST_FIELDS, "unit_call_signs", "attributes", "narrative", "assigned_units")


class RankedCameraSerializer(serializers.Serializer):
    camera = serializers.DictField()
    distance_m = serializers.FloatField()
    in_view = serializers.BooleanField()
    can_see = serializers.BooleanField()
    reason = serializers.CharField()


class NearbyUnitSerializer(serializers.Serializer):
    unit = serializers.DictField()
    distance_m = serializers.FloatField()
    last_seen = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
