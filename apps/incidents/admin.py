from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Incident, NarrativeEntry


class NarrativeInline(admin.TabularInline):
    model = NarrativeEntry
    extra = 0


@admin.register(Incident)
class IncidentAdmin(LeafletGeoAdmin):
    list_display = ("cad_number", "type_code", "priority", "status", "address", "received_at", "agency")
    list_filter = ("status", "priority", "call_source", "location_approximate", "agency", "type_code")
    search_fields = ("cad_number", "address", "type_code", "type_description", "disposition")
    date_hierarchy = "received_at"
    raw_id_fields = ("beat",)
    filter_horizontal = ("assigned_units",)
    inlines = [NarrativeInline]
