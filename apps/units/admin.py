from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Unit, UnitIdentity, UnitPosition
from .services import unit_save, units_delete


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

    # Every write goes through the services, which put the change on the operators' maps.
    def save_model(self, request, obj, form, change):
        unit_save(unit=obj)

    def delete_model(self, request, obj):
        units_delete(units=Unit.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        units_delete(units=queryset)


@admin.register(UnitPosition)
class UnitPositionAdmin(LeafletGeoAdmin):
    list_display = ("unit", "recorded_at", "speed", "heading", "source")
    list_filter = ("source",)
    search_fields = ("unit__call_sign",)
    date_hierarchy = "recorded_at"
    raw_id_fields = ("unit",)
