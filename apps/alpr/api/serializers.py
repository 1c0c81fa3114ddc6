from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..models import AlprRead, AlprSite, HotlistEntry


class AlprSiteSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = AlprSite
        geo_field = "location"
        fields = ("id", "name", "external_id", "kind", "location", "direction", "view", "attributes")


class HitSerializer(serializers.ModelSerializer):
    hotlist = serializers.CharField(source="hotlist.name")

    class Meta:
        model = HotlistEntry
        fields = ("id", "reason", "hotlist")


class AlprReadSerializer(GeoFeatureModelSerializer):
    site = serializers.SlugRelatedField(slug_field="name", read_only=True)
    hit = HitSerializer(read_only=True)

    class Meta:
        model = AlprRead
        geo_field = "location"
        fields = ("id", "plate", "state", "read_at", "location", "site", "image_url", "hit")
