"""Shared API pieces: layer pagination, the layer filter backend, the base layer view set."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, viewsets
from rest_framework.filters import BaseFilterBackend
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_gis.pagination import GeoJsonPagination

from .geo import GeoInputError, parse_bbox
from .params import check_datetime, choice_list_param, int_param, parse_id
from .unavailable import unavailable_response_drf


def exception_handler(exc, context):
    """DRF's handler, plus bad geo input and model validation errors as 400s with the reason, and a
    part that is down (database, cache, broker) as a 503 with Retry-After (apps.core.unavailable)."""
    unavailable = unavailable_response_drf(exc)
    if unavailable is not None:
        return unavailable
    if isinstance(exc, GeoInputError):
        exc = exceptions.ValidationError({"detail": str(exc)})
    elif isinstance(exc, DjangoValidationError):
        # A field-keyed error keeps its field names, so the client learns which parameter was wrong.
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    response = drf_exception_handler(exc, context)
    if isinstance(exc, exceptions.NotAuthenticated) and response is not None:
        # Session auth has no WWW-Authenticate scheme, so DRF would answer 403; the map needs to
        # tell "signed out" (go to the login page) from "not allowed" (say so).
        response.status_code = 401
        response["WWW-Authenticate"] = 'Session realm="rtcc-gis"'
    return response


class LayerPagination(GeoJsonPagination):
    page_size = settings.RTCC_PAGE_SIZE
    max_page_size = settings.RTCC_MAX_PAGE_SIZE


def parse_time_param(name: str, raw: str) -> datetime:
    """ISO 8601 datetime (naive means the center's time zone) or a plain date (see apps.core.params)."""
    return check_datetime(name, raw)


def parse_int_param(request, name: str, default: int, low: int, high: int) -> int:
    return int_param(request.query_params, name, default=default, low=low, high=high)


class LayerFilterBackend(BaseFilterBackend):
    """Declarative viewport, time and status filters, driven by attributes on the view:

    bbox_field (in_bbox), time_field (since/until), status_field + status_choices (status=a,b).
    Bad values are 400s that say what was wrong.
    """

    def filter_queryset(self, request, queryset, view):
        params = request.query_params
        bbox_field = getattr(view, "bbox_field", None)
        if bbox_field and params.get("in_bbox"):
            queryset = queryset.filter(**{f"{bbox_field}__intersects": parse_bbox(params["in_bbox"])})
        time_field = getattr(view, "time_field", None)
        if time_field:
            since = params.get("since")
            until = params.get("until")
            if since:
                queryset = queryset.filter(**{f"{time_field}__gte": parse_time_param("since", since)})
            if until:
                queryset = queryset.filter(**{f"{time_field}__lt": parse_time_param("until", until)})
        status_field = getattr(view, "status_field", None)
        if status_field and params.get("status"):
            wanted = choice_list_param(params, "status", view.status_choices.values)
            queryset = queryset.filter(**{f"{status_field}__in": wanted})
        return queryset

    def get_schema_operation_parameters(self, view):
        """The filters this view takes, in the OpenAPI schema (so clients and schemathesis know them)."""
        found = []
        if getattr(view, "bbox_field", None):
            found.append(_query_parameter("in_bbox", "minlon,minlat,maxlon,maxlat (WGS84)"))
        if getattr(view, "time_field", None):
            found.append(_query_parameter("since", "at or after (ISO 8601)", fmt="date-time"))
            found.append(_query_parameter("until", "before (ISO 8601)", fmt="date-time"))
        if getattr(view, "status_field", None) and getattr(view, "status_choices", None) is not None:
            found.append(_query_parameter("status", f"comma-separated: {', '.join(view.status_choices.values)}"))
        return found


def _query_parameter(name: str, description: str, *, fmt: str = "") -> dict:
    schema = {"type": "string", **({"format": fmt} if fmt else {})}
    return {"name": name, "required": False, "in": "query", "description": description, "schema": schema}


class LayerViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only map layer: GeoJSON list with viewport/time/status filters, and details.

    Subclasses supply `selector(user)` returning what the user may see, and `required_perms`, the
    permission each action needs (apps.accounts.permissions): the core knows no permission, so a
    layer that declares none is closed to everyone (the permission class refuses an undeclared action).
    """

    pagination_class = LayerPagination
    filter_backends = [LayerFilterBackend]
    required_perms: dict[str, str] = {}
    bbox_field: str | None = None
    time_field: str | None = None
    status_field: str | None = None
    status_choices = None

    def selector(self, user):
        raise NotImplementedError

    def get_queryset(self):
        return self.selector(self.request.user)

    def get_object(self):
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        if parse_id(lookup) is None:
            raise exceptions.NotFound(f"{lookup!r} is not a valid id")
        return super().get_object()
