from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..models import Unit
from ..selectors import unit_is_stale


class UnitSerializer(GeoFeatureModelSerializer):
    stale = serializers.SerializerMethodField()

    class Meta:
        model = Unit
        geo_field = "last_location"
        fields = (
            "id",
            "agency",  # the map extends trails only for the viewer's own agency's units
            "call_sign",
            "kind",
            "status",
            "last_location",
            "last_heading",
            "last_speed",
            "last_seen",
            "stale",
        )

    def get_stale(self, unit: Unit) -> bool:
        return unit_is_stale(unit)
