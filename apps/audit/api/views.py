"""The audit trail API for auditors and agency admins: list, detail and a streamed CSV export.

Everything here is scoped by `audit_event_list`: an agency's own events only (superusers: all).
Reading the trail and exporting it are themselves audited.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets
from rest_framework.pagination import PageNumberPagination

from apps.accounts.permissions import Perm
from apps.core.api import LayerFilterBackend
from apps.core.params import check_text

from ..chain import format_at
from ..models import AuditAction, AuditEvent
from ..reads import AuditedRead, audited
from ..selectors import audit_event_list
from .serializers import AuditEventSerializer

FILTER_PARAMETERS = [
    OpenApiParameter("user", str, description="username"),
    OpenApiParameter("action", str, enum=AuditAction.values),
    OpenApiParameter("object_type", str),
    OpenApiParameter("object_id", str),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="events at or after (ISO 8601)"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="events before (ISO 8601)"),
]

CSV_COLUMNS = (
    "id",
    "at",
    "user_id",
    "username",
    "agency_id",
    "agency",
    "action",
    "object_type",
    "object_id",
    "reason",
    "detail",
    "ip",
    "prev_hash",
    "hash",
)
# Spreadsheets run a cell starting with one of these as a formula; usernames tried at the login
# page and reasons are typed by whoever, so such cells get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Reading the trail is itself a look on record; a reason is optional (an auditor's routine review has none).
TRAIL_QUERY = AuditedRead("audit.list", actions=(AuditAction.AUDIT_QUERY,), object_type="audit.auditevent")
TRAIL_EVENT = AuditedRead("audit.retrieve", actions=(AuditAction.AUDIT_QUERY,), object_type="audit.auditevent")
TRAIL_EXPORT = AuditedRead("audit.export", actions=(AuditAction.EXPORT,), object_type="audit.auditevent")


class AuditPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = dict(zip(CSV_COLUMNS, row, strict=True))
        values["at"] = format_at(values["at"])
        values["detail"] = json.dumps(values["detail"], sort_keys=True, separators=(",", ":"))
        yield writer.writerow([_cell(values[column]) for column in CSV_COLUMNS])


@extend_schema_view(list=extend_schema(parameters=FILTER_PARAMETERS))
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail, for auditors and agency admins. Reading or exporting it is itself audited."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditPagination
    filter_backends = [LayerFilterBackend]
    time_field = "at"
    required_perms = {"list": Perm.VIEW_AUDIT, "retrieve": Perm.VIEW_AUDIT, "export": Perm.VIEW_AUDIT}

    def get_queryset(self) -> QuerySet[AuditEvent]:
        qs = audit_event_list(user=self.request.user)
        params = self.request.query_params
        if params.get("user"):
            qs = qs.filter(username=check_text("user", params["user"]))
        if params.get("action"):
            if params["action"] not in AuditAction.values:
                raise exceptions.ValidationError({"action": f"unknown action {params['action']!r}"})
            qs = qs.filter(action=params["action"])
        for field in ("object_type", "object_id"):
            if params.get(field):
                qs = qs.filter(**{field: check_text(field, params[field])})
        return qs

    def perform_content_negotiation(self, request, force=False):
        # The CSV is written by hand below; a client asking only for text/csv must not get a 406
        # from DRF's renderer negotiation (refusals before it are JSON whatever was asked for).
        return super().perform_content_negotiation(request, force=force or self.action == "export")

    @audited(TRAIL_QUERY)
    def list(self, request, *args, look, **kwargs):
        response = super().list(request, *args, **kwargs)
        look.record(detail={"query": request.query_params.dict()})
        return response

    @audited(TRAIL_EVENT)
    def retrieve(self, request, *args, look, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        look.record(object_id=kwargs.get("pk", ""))
        return response

    @extend_schema(
        operation_id="audit_export_csv",
        parameters=[*FILTER_PARAMETERS, OpenApiParameter("reason", str, description="why you export (recorded)")],
        responses={200: OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per event, oldest first")},
    )
    @audited(TRAIL_EXPORT)
    def export(self, request, *args, look, **kwargs):
        """`GET /api/audit/export.csv`: the filtered trail as CSV, oldest first, streamed."""
        rows = (
            self.filter_queryset(self.get_queryset())
            .order_by("id")
            .values_list(*[("agency__code" if c == "agency" else c) for c in CSV_COLUMNS])
        )
        # Recorded before the rows are read, so an export that matches its own event lists it too.
        look.record(detail={"query": request.query_params.dict(), "format": "csv"})
        response = StreamingHttpResponse(_csv_lines(rows.iterator(chunk_size=2000)), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response
