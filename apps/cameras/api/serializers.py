from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..choices import StreamDisplay
from ..models import Camera


class CameraSerializer(GeoFeatureModelSerializer):
    """A camera for the map. The stream URL is never listed, nor handed out: an audited open (`stream`)
    gives a proxy URL on a signed grant (apps.cameras.api.proxy) and the camera's address stays here."""

    class Meta:
        model = Camera
        geo_field = "location"
        fields = (
            "id",
            "name",
            "external_id",
            "owner_kind",
            "owner_name",
            "location",
            "heading",
            "fov_angle",
            "fov_range",
            "ptz",
            "view",
            "status",
            "last_seen",
            "sharing",
            "stream_kind",
        )


class CameraDetailSerializer(CameraSerializer):
    class Meta(CameraSerializer.Meta):
        fields = (*CameraSerializer.Meta.fields, "owner_contact")


class StreamRequestSerializer(serializers.Serializer):
    # Checked by the one reason rule (apps.audit.reads), not here: the view's audited read parses it.
    reason = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    incident = serializers.IntegerField(required=False, allow_null=True, default=None)
    display = serializers.ChoiceField(choices=StreamDisplay.choices, required=False, default=StreamDisplay.DOCK)
    renewal = serializers.BooleanField(
        required=False, default=False, help_text="the player renews an expiring grant (audited as a renewal)"
    )


class StreamSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="proxy URL on this server carrying the grant; empty for RTSP")
    stream_kind = serializers.CharField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="when the grant ends; open again (renewal) before")
