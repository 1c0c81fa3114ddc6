from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Agency, ApiToken, User
from .services import totp_device_remove
from .views import admin_login_redirect

# django-otp's own device admin shows each key and its QR code: a user's second factor, readable by
# any staff account. Devices are managed only through enrolment and the reset action below.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)

# The admin's own login form calls authenticate() directly and would bypass the lockout and the
# second factor; every admin sign-in goes through the one login view instead.
admin.site.login = admin_login_redirect  # type: ignore[method-assign]


def _has_device() -> Exists:
    return Exists(TOTPDevice.objects.filter(user=OuterRef("pk")))


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "time_zone")
    search_fields = ("code", "name")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (
        ("Center", {"fields": ("agency", "role")}),
        ("Two-factor authentication", {"fields": ("totp_confirmed_at",)}),
    )
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Center", {"fields": ("agency", "role")}),)
    readonly_fields = ("totp_confirmed_at",)
    list_display = ("username", "agency", "role", "is_active", "is_staff", "has_2fa")
    list_filter = ("agency", "role", "is_active")
    actions = ["reset_2fa"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).annotate(device_2fa=_has_device())

    @admin.display(boolean=True, description="2FA", ordering="device_2fa")
    def has_2fa(self, obj: User) -> bool:
        # The device is the second factor (what sign-in checks); totp_confirmed_at only mirrors it.
        return obj.device_2fa

    @admin.action(description="Reset two-factor authentication (lost phone: the user enrols again)")
    def reset_2fa(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        # Row by row, not queryset.update(): each save sends post_save, which the audit trail hears.
        for user in queryset.filter(_has_device()):
            totp_device_remove(user=user)
            count += 1
        self.message_user(request, f"Two-factor authentication reset for {count} user(s).", messages.WARNING)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Issue (on add: the key is shown once), inspect and revoke integration tokens."""

    list_display = ("name", "user", "hint", "created_at", "last_used_at", "expires_at", "revoked_at", "active")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "hint")
    readonly_fields = ("hint", "created_at", "last_used_at", "revoked_at")
    autocomplete_fields = ("user",)
    actions = ["revoke"]

    @admin.display(boolean=True)
    def active(self, obj: ApiToken) -> bool:
        return obj.is_active

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        # A token's owner is fixed once issued: moving it would hand its key to someone else's role.
        if obj is not None:
            return ("user", *self.readonly_fields)
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        key = None if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if key is not None:
            self.message_user(request, f"{obj}: key {key} (copy it now; only its hash is kept)", messages.WARNING)

    @admin.action(description="Revoke selected tokens (they stop working at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at=None))
        # Row by row, not queryset.update(): each save sends post_save, which the audit trail hears.
        for token in tokens:
            token.revoke()
        count = len(tokens)
        self.message_user(request, f"Revoked {count} token(s).", messages.WARNING)
