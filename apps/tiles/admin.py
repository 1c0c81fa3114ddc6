from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Street


@admin.register(Street)
class StreetAdmin(LeafletGeoAdmin):
    list_display = ("name", "kind", "osm_id", "source")
    list_filter = ("kind", "source")
    search_fields = ("name", "osm_id")
