from django.contrib import admin

from .models import IncidentAssist


@admin.register(IncidentAssist)
class IncidentAssistAdmin(admin.ModelAdmin):
    list_display = ("incident", "kind", "agency", "created_by", "created_at")
    list_filter = ("kind", "agency")
    raw_id_fields = ("incident",)
    readonly_fields = ("incident", "agency", "kind", "note", "created_by", "created_at")

    def has_add_permission(self, request):
        # Marks are made through the API, which checks the incident is visible and audits the act.
        return False
