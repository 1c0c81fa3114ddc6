from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Camera


@admin.register(Camera)
class CameraAdmin(LeafletGeoAdmin):
    list_display = ("name", "owner_kind", "status", "sharing", "stream_kind", "agency", "active")
    list_filter = ("owner_kind", "status", "sharing", "stream_kind", "agency", "active", "ptz")
    search_fields = ("name", "external_id", "owner_name")
    readonly_fields = ("last_seen",)
