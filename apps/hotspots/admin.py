from django.contrib import admin

from .models import HotspotRun


@admin.register(HotspotRun)
class HotspotRunAdmin(admin.ModelAdmin):
    list_display = ("id", "agency", "kind", "status", "incident_count", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status", "agency")
    readonly_fields = [f.name for f in HotspotRun._meta.fields if f.name != "result"]
    exclude = ("result",)

    def has_add_permission(self, request):
        return False
