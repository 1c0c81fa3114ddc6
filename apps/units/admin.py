from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Unit, UnitPosition


@admin.register(Unit)
class UnitAdmin(LeafletGeoAdmin):
    list_display = ("call_sign", "kind", "status", "agency", "last_seen", "active")
    list_filter = ("status", "kind", "agency", "active")
    search_fields = ("call_sign",)


@admin.register(UnitPosition)
class UnitPositionAdmin(LeafletGeoAdmin):
    list_display = ("unit", "recorded_at", "speed", "heading", "source")
    list_filter = ("source",)
    search_fields = ("unit__call_sign",)
    date_hierarchy = "recorded_at"
    raw_id_fields = ("unit",)
