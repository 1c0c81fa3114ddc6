from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Unit, UnitIdentity, UnitPosition


class UnitIdentityInline(admin.TabularInline):
    """The ids sources use for this unit (namespace feed:<source id>): one id, one unit, per source."""

    model = UnitIdentity
    extra = 0
    fields = ("namespace", "external_id", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Unit)
class UnitAdmin(LeafletGeoAdmin):
    list_display = ("call_sign", "kind", "status", "agency", "device_id", "last_seen", "active")
    list_filter = ("status", "kind", "agency", "active")
    search_fields = ("call_sign", "device_id", "identities__external_id")
    inlines = [UnitIdentityInline]


@admin.register(UnitPosition)
class UnitPositionAdmin(LeafletGeoAdmin):
    list_display = ("unit", "recorded_at", "speed", "heading", "source")
    list_filter = ("source",)
    search_fields = ("unit__call_sign",)
    date_hierarchy = "recorded_at"
    raw_id_fields = ("unit",)
