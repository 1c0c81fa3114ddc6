from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Zone


@admin.register(Zone)
class ZoneAdmin(LeafletGeoAdmin):
    list_display = ("code", "name", "kind", "agency", "parent")
    list_filter = ("kind", "agency")
    search_fields = ("code", "name")
