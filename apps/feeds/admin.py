from django.contrib import admin, messages

from .adapters.base import adapter_kinds
from .choices import FeedHealth
from .models import DeadLetter, FeedSource


@admin.register(FeedSource)
class FeedSourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "mode",
        "agency",
        "enabled",
        "accepted_count",
        "rejected_count",
        "ambiguous_count",
        "last_success_at",
        "health",
        "token_hint",
    )
    list_filter = ("kind", "mode", "enabled", "agency")
    search_fields = ("name",)
    readonly_fields = (
        "token_hint",
        "accepted_count",
        "rejected_count",
        "units_created_count",
        "units_updated_count",
        "ambiguous_count",
        "health",
        "ignored_count",
        "last_success_at",
        "last_error_at",
        "last_error",
        "misconfigured_reason",
        "last_polled_at",
    )
    actions = ["issue_token"]

    @admin.display(description="health")
    def health(self, obj: FeedSource) -> str:
        """healthy / stale / failing / misconfigured / disabled (FeedSource.health), as words."""
        return FeedHealth(obj.health).label

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "kind":
            from django import forms

            return forms.ChoiceField(choices=adapter_kinds(), label="Kind (format)")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.action(description="Issue a new push token (the old one stops working)")
    def issue_token(self, request, queryset):
        for source in queryset:
            token = source.issue_token()
            self.message_user(
                request, f"{source}: new token {token} (copy it now; only its hash is kept)", messages.WARNING
            )


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "index", "reason")
    list_filter = ("source",)
    search_fields = ("reason", "raw")
    date_hierarchy = "received_at"
    readonly_fields = ("source", "received_at", "index", "reason", "raw")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
