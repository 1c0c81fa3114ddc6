from django import forms
from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Camera, CameraStreamSecret, split_stream_credentials
from .services import camera_save, cameras_delete


class CameraAdminForm(forms.ModelForm):
    """Stream credentials are write-only here: staff may replace or clear them, never read them back."""

    stream_username = forms.CharField(
        required=False, max_length=200, label="Stream user name", widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    stream_password = forms.CharField(
        required=False,
        max_length=200,
        label="Stream password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    stream_credentials_clear = forms.BooleanField(required=False, label="Clear the stored stream credentials")

    class Meta:
        model = Camera
        fields = "__all__"  # noqa: DJ007 - the admin's own form: every editable field, as without one

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.pk and CameraStreamSecret.objects.filter(camera_id=self.instance.pk).exists()
        self.fields["stream_username"].help_text = (
            "Credentials stored (not shown). Type a user name and password to replace them."
            if stored
            else "No credentials stored. A URL typed as scheme://user:pass@host/... is split here too."
        )
        self.pasted_credentials = None

    def clean_stream_url(self):
        url, username, password = split_stream_credentials(self.cleaned_data.get("stream_url", ""))
        if username or password:
            self.pasted_credentials = (username, password)
        return url

    def credentials_change(self) -> tuple[str, str] | None:
        """(user name, password) to store, ("", "") to clear, None to leave as they are."""
        if self.cleaned_data.get("stream_credentials_clear"):
            return "", ""
        typed = (self.cleaned_data.get("stream_username", ""), self.cleaned_data.get("stream_password", ""))
        if any(typed):
            return typed
        return self.pasted_credentials


@admin.register(Camera)
class CameraAdmin(LeafletGeoAdmin):
    form = CameraAdminForm
    list_display = ("name", "owner_kind", "status", "sharing", "stream_kind", "agency", "active")
    list_filter = ("owner_kind", "status", "sharing", "stream_kind", "agency", "active", "ptz")
    search_fields = ("name", "external_id", "owner_name")
    readonly_fields = ("last_seen",)

    # Every write goes through the services, which put the change on the operators' maps.
    def save_model(self, request, obj, form, change):
        camera_save(camera=obj, credentials=form.credentials_change())

    def delete_model(self, request, obj):
        cameras_delete(cameras=Camera.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        cameras_delete(cameras=queryset)
