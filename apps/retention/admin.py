"""Admin: retention policies (editable, audited), purge receipts (read-only evidence), and legal-hold actions
on the records that can be held.

The hold actions are attached here to the other apps' registered admins rather than declared in each of them, so
everything about retention lives in this app; `apps.retention` comes after those apps in INSTALLED_APPS, so their
admins are registered by the time this module is imported.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.alpr.models import AlprRead
from apps.incidents.models import Incident
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import Unit, UnitPosition

from .models import PurgeReceipt, RetentionPolicy
from .services import legal_hold_set, positions_hold, retention_policy_update


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("data_class", "days", "enabled", "note", "updated_at")
    list_editable = ("days", "enabled")
    readonly_fields = ("updated_at",)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a policy would silently stop purging its class; disabling it says so.
        return False

    def save_model(self, request, obj: RetentionPolicy, form, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        retention_policy_update(policy=obj, user=request.user, days=obj.days, enabled=obj.enabled, note=obj.note)


@admin.register(PurgeReceipt)
class PurgeReceiptAdmin(admin.ModelAdmin):
    list_display = ("started_at", "data_class", "cutoff", "rows_deleted", "rows_held", "batches", "complete", "error")
    list_filter = ("data_class", "complete")
    date_hierarchy = "started_at"

    # Receipts are evidence of what was destroyed: nobody adds, edits or deletes them (and no retention class
    # covers them).
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- legal hold actions ---------------------------------------------------------------------------------------


class HoldForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="case number, preservation request or order: recorded in the audit trail",
    )


class PositionsHoldForm(HoldForm):
    since = forms.DateTimeField(help_text="first fix to hold, e.g. 2026-03-01 18:00")
    until = forms.DateTimeField(help_text="last fix to hold")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("the end of the range is before its start")
        return data


def _form_page(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, form: forms.Form, action: str, title: str
) -> HttpResponse:
    """The intermediate page that asks for the reason (and range) before the action runs."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "objects": list(queryset),
        "form": form,
        "action": action,
        "checkbox_name": ACTION_CHECKBOX_NAME,
        "explanation": "Records on legal hold are never purged, whatever their retention period.",
    }
    return render(request, "retention/admin/hold_form.html", context)


def _set_holds(on: bool, title: str):
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = HoldForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return _form_page(modeladmin, request, queryset, form, action.__name__, title)
        changed = gone = 0
        for obj in queryset:
            try:
                changed += legal_hold_set(obj=obj, on=on, user=request.user, reason=form.cleaned_data["reason"])
            except ObjectDoesNotExist:
                gone += 1
        modeladmin.message_user(request, f"{title}: {changed} changed.", messages.SUCCESS)
        if gone:
            modeladmin.message_user(request, f"{gone} no longer exist (purged meanwhile).", messages.WARNING)
        return None

    action.__name__ = "legal_hold_place" if on else "legal_hold_release"
    return admin.action(description=f"{title} (asks for the reason)", permissions=["change"])(action)


legal_hold_place = _set_holds(True, "Place on legal hold")
legal_hold_release = _set_holds(False, "Release the legal hold")


@admin.action(description="Hold positions in a time range (asks for range and reason)", permissions=["change"])
def unit_positions_hold(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    form = PositionsHoldForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        return _form_page(modeladmin, request, queryset, form, "unit_positions_hold", "Hold positions")
    data = form.cleaned_data
    total = sum(
        positions_hold(unit=unit, since=data["since"], until=data["until"], reason=data["reason"], user=request.user)
        for unit in queryset
    )
    modeladmin.message_user(request, f"{total} positions placed on legal hold.", messages.SUCCESS)
    return None


def _extend(model, *actions, filter_hold: bool = True) -> None:
    model_admin = admin.site.get_model_admin(model)
    model_admin.actions = [*(model_admin.actions or ()), *actions]
    if filter_hold and "legal_hold" not in model_admin.list_filter:
        model_admin.list_filter = (*model_admin.list_filter, "legal_hold")


for _model in (Incident, AlprRead, GunshotDetection, Alert, UnitPosition):
    _extend(_model, legal_hold_place, legal_hold_release)
_extend(Unit, unit_positions_hold, filter_hold=False)
