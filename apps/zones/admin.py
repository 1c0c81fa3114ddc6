from django import forms
from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Zone
from .services import parse_geocodes


class ZoneForm(forms.ModelForm):
    class Meta:
        model = Zone
        fields = ("agency", "kind", "code", "name", "parent", "geocodes", "geom")
        help_texts = {
            "geocodes": "SCHEME:value, comma-separated (UGC:WAZ558,SAME:053033): CAP alerts given "
            "only these codes are placed on this zone"
        }

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
