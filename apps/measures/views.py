"""The measures dashboard page: a thin view handing measures.js its configuration through json_script."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import get_script_prefix, reverse
from django.views.decorators.http import require_GET

from apps.accounts.permissions import Perm, user_has_perm
from apps.core.params import ParamError

from .choices import AssistKind, Bucket
from .period import period_from_params, user_time_zone


def measures_config(user, period) -> dict:
    agency = getattr(user, "agency", None)
    return {
        "apiBase": f"{get_script_prefix()}api/",
        "summaryUrl": reverse("measures"),
        "csvUrl": reverse("measures-export"),
        "mapUrl": reverse("map"),
        "loginUrl": resolve_url(settings.LOGIN_URL),
        "csrfCookieName": settings.CSRF_COOKIE_NAME,
        "timeZone": str(period.tz),
        "agency": agency.name if agency else "",
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "bucket": period.bucket,
        "buckets": [{"value": b.value, "label": str(b.label)} for b in Bucket],
        "assistKinds": [{"value": k.value, "label": str(k.label)} for k in AssistKind],
    }


@login_required
@require_GET
def measures_page(request: HttpRequest) -> HttpResponse:
    if not user_has_perm(request.user, Perm.VIEW_MEASURES):
        raise PermissionDenied("Your role does not include the center's measures.")
    try:
        period = period_from_params(request.GET, tz=user_time_zone(request.user))
    except (ValidationError, ParamError):
        # A hand-edited address: show the default period; the form says what it shows.
        period = period_from_params({}, tz=user_time_zone(request.user))
    return render(request, "measures.html", {"config": measures_config(request.user, period)})
