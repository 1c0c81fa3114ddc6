from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Incident, NarrativeEntry
from .services import incident_save, incidents_delete


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

    # Every write goes through the services, which put the change on the operators' maps.
    def save_model(self, request, obj, form, change):
        relocated = "location" in form.changed_data and "beat" not in form.changed_data
        incident_save(incident=obj, relocated=relocated)

    def delete_model(self, request, obj):
        incidents_delete(incidents=Incident.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        incidents_delete(incidents=queryset)
