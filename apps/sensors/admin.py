from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Alert, GunshotDetection


@admin.register(GunshotDetection)
class GunshotDetectionAdmin(LeafletGeoAdmin):
    list_display = ("detected_at", "rounds", "confidence", "source", "source_id", "agency")
    list_filter = ("source", "agency")
    date_hierarchy = "detected_at"


@admin.register(Alert)
class AlertAdmin(LeafletGeoAdmin):
    list_display = ("raised_at", "kind", "title", "status", "acknowledged_by", "agency")
    list_filter = ("kind", "status", "agency")
    search_fields = ("title", "detail")
    date_hierarchy = "raised_at"
    raw_id_fields = ("gunshot", "alpr_read", "acknowledged_by")
