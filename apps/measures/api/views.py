"""Marking incidents as RTCC-assisted, and the measures of success as JSON and CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, audited
from apps.incidents.selectors import incident_list

from ..choices import AssistKind, Bucket
from ..period import period_from_params, user_time_zone
from ..selectors import assist_list, measures_csv_rows, measures_summary
from ..services import incident_assist_create
from .serializers import IncidentAssistCreateSerializer, IncidentAssistSerializer

PERIOD_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first local day (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last local day, inclusive (default: today)"),
    OpenApiParameter("bucket", str, enum=Bucket.values, description="series bucket (default day)"),
]
CSV_COLUMNS = ("section", "bucket", "username", "shift", "measure", "value")
# Per-user counts of the center's work leave the building in this file; a reason is optional.
MEASURES_EXPORT = AuditedRead("measures.export", actions=(AuditAction.EXPORT,), object_type="measures.summary")


class IncidentAssistViewSet(viewsets.ViewSet):
    """`/api/incidents/{pk}/assists/`: the RTCC's marks on an incident; POST adds one (audited)."""

    required_perms = {"list": Perm.VIEW_LAYERS, "create": Perm.MARK_ASSIST}

    def _incident(self, pk: str):
        incident = incident_list(user=self.request.user).filter(pk=pk).first()
        if incident is None:
            raise exceptions.NotFound(f"no incident {pk} that you can see")
        return incident

    @extend_schema(responses=IncidentAssistSerializer(many=True))
    def list(self, request, pk=None):
        incident = self._incident(pk)
        marks = assist_list(user=request.user, incident_id=incident.pk)
        kinds = [{"value": k.value, "label": str(k.label)} for k in AssistKind]
        return Response({"results": IncidentAssistSerializer(marks, many=True).data, "kinds": kinds})

    @extend_schema(request=IncidentAssistCreateSerializer, responses={201: IncidentAssistSerializer})
    def create(self, request, pk=None):
        incident = self._incident(pk)
        body = IncidentAssistCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            assist = incident_assist_create(
                incident=incident,
                user=request.user,
                kind=body.validated_data["kind"],
                note=body.validated_data["note"],
                request=request,
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        return Response(IncidentAssistSerializer(assist).data, status=status.HTTP_201_CREATED)


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    # Usernames are the only free text here; none may start a spreadsheet formula.
    return "'" + text if isinstance(value, str) and text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def _csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


class MeasuresViewSet(viewsets.ViewSet):
    """`/api/measures/`: the center's measures of success; `export.csv` the same as CSV (audited)."""

    required_perms = {"summary": Perm.VIEW_MEASURES, "export": Perm.VIEW_MEASURES}

    def _period(self, request):
        try:
            return period_from_params(request.query_params, tz=user_time_zone(request.user))
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None

    def perform_content_negotiation(self, request, force=False):
        # The CSV is written by hand; a client asking only for text/csv must not get a 406.
        return super().perform_content_negotiation(request, force=force or self.action == "export")

    @extend_schema(parameters=PERIOD_PARAMETERS, responses={200: OpenApiResponse(OpenApiTypes.OBJECT)})
    def summary(self, request):
        return Response(measures_summary(user=request.user, period=self._period(request)))

    @extend_schema(
        operation_id="measures_export_csv",
        parameters=[*PERIOD_PARAMETERS, OpenApiParameter("reason", str, description="why you export (recorded)")],
        responses={200: OpenApiResponse(OpenApiTypes.STR, description="CSV: " + ", ".join(CSV_COLUMNS))},
    )
    @audited(MEASURES_EXPORT)
    def export(self, request, *, look):
        period = self._period(request)
        summary = measures_summary(user=request.user, period=period)
        look.record(
            detail={"query": request.query_params.dict(), "format": "csv", "period": [summary["from"], summary["to"]]}
        )
        response = StreamingHttpResponse(_csv_lines(measures_csv_rows(summary)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="rtcc-measures-{summary["from"]}-{summary["to"]}.csv"'
        response["Cache-Control"] = "no-store"
        return response
