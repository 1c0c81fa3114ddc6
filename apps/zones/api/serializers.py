from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..models import Zone


class ZoneSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = Zone
        geo_field = "geom"
        fields = ("id", "kind", "code", "name", "parent", "geocodes", "geom")
