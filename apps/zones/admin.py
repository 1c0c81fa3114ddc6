from django import forms
from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Zone
from .services import as_multipolygon, parse_geocodes, zone_save, zones_delete


class ZoneForm(forms.ModelForm):
    class Meta:
        model = Zone
        fields = ("agency", "kind", "code", "name", "parent", "geocodes", "geom")
        help_texts = {
            "geocodes": "SCHEME:value, comma-separated (UGC:WAZ558,SAME:053033): CAP alerts given "
            "only these codes are placed on this zone"
        }

    def clean_geom(self):
        geom = self.cleaned_data.get("geom")
        try:
            return as_multipolygon(geom) if geom is not None else geom
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_geocodes(self):
        try:
            return parse_geocodes(self.cleaned_data.get("geocodes") or [])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Zone)
class ZoneAdmin(LeafletGeoAdmin):
    form = ZoneForm
    list_display = ("code", "name", "kind", "agency", "parent")
    list_filter = ("kind", "agency")
    search_fields = ("code", "name")

    # Every write goes through the services: a beat's incidents follow it, on the operators' maps too.
    def save_model(self, request, obj, form, change):
        zone_save(zone=obj)

    def delete_model(self, request, obj):
        zones_delete(zones=Zone.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        zones_delete(zones=queryset)
