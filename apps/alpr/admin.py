from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import AlprRead, AlprSite, Hotlist, HotlistEntry


@admin.register(AlprSite)
class AlprSiteAdmin(LeafletGeoAdmin):
    list_display = ("name", "kind", "agency", "active")
    list_filter = ("kind", "agency", "active")
    search_fields = ("name", "external_id")


class HotlistEntryInline(admin.TabularInline):
    model = HotlistEntry
    extra = 0


@admin.register(Hotlist)
class HotlistAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "agency", "active")
    inlines = [HotlistEntryInline]


@admin.register(AlprRead)
class AlprReadAdmin(LeafletGeoAdmin):
    list_display = ("plate", "state", "read_at", "site", "hit", "agency")
    list_filter = ("agency", "site")
    search_fields = ("plate",)
    date_hierarchy = "read_at"
    raw_id_fields = ("site", "hit")
