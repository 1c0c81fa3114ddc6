"""The map's search box: one endpoint for records by text, one for plate reads (reason + audit).

Only plate searches are audited. The text search finds incidents, units, cameras and zones that the
same user may already list on the map's layers without an audit event (VIEW_LAYERS), and it runs
as the operator types, so auditing it would bury the trail in keystrokes while adding no
accountability the layers lack. A plate search is a look at where a vehicle, and so a person, has
been: it needs a reason and is recorded, exactly as the ALPR reads endpoint does.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import parse_int_param

from ..selectors import (
    DEFAULT_LIMIT,
    KINDS,
    MAX_LIMIT,
    PLATE_DEFAULT_LIMIT,
    PLATE_MAX_LIMIT,
    QUERY_MAX_CHARS,
    QUERY_MIN_CHARS,
    plate_reads,
    search,
)

PLATE_MAX_CHARS = 20
PLATE_SEARCH = AuditedRead(
    "search.plates",
    actions=(AuditAction.PLATE_SEARCH,),
    reason=Reason(required="a plate search needs a reason (e.g. a case number)"),
    object_type="alpr.alprread",
)


def _text_param(request, name: str, *, low: int, high: int, required_message: str = "") -> str:
    value = request.query_params.get(name, "").strip()
    if not value and required_message:
        raise exceptions.ValidationError({name: required_message})
    if any(ord(ch) < 32 for ch in value):
        raise exceptions.ValidationError({name: "must not contain control characters"})
    if not low <= len(value) <= high:
        raise exceptions.ValidationError({name: f"give {low} to {high} characters, got {len(value)}"})
    return value


def _kinds_param(request) -> tuple[str, ...]:
    raw = request.query_params.get("kinds", "")
    if not raw.strip():
        return KINDS
    wanted = tuple(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise exceptions.ValidationError({"kinds": f"unknown kind {', '.join(unknown)}; use {', '.join(KINDS)}"})
    if not wanted:
        raise exceptions.ValidationError({"kinds": f"name at least one of {', '.join(KINDS)}"})
    return wanted


class SearchViewSet(viewsets.ViewSet):
    """Search the records on the map by text; plate reads by plate, with a reason."""

    required_perms = {"list": Perm.VIEW_LAYERS, "plates": Perm.SEARCH_PLATES}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description=f"CAD number, address, call sign, camera name or zone ({QUERY_MIN_CHARS}-"
                f"{QUERY_MAX_CHARS} characters, case-insensitive, anywhere in the value)",
            ),
            OpenApiParameter("kinds", str, description=f"comma-separated subset of {', '.join(KINDS)} (default all)"),
            OpenApiParameter("limit", int, description=f"results per kind, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request):
        q = _text_param(request, "q", low=QUERY_MIN_CHARS, high=QUERY_MAX_CHARS, required_message="a search needs q")
        kinds = _kinds_param(request)
        limit = parse_int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        return Response({"q": q, "groups": search(user=request.user, q=q, kinds=kinds, limit=limit)})

    @extend_schema(
        parameters=[
            OpenApiParameter("plate", str, required=True, description="plate to search; `*` matches any characters"),
            OpenApiParameter("reason", str, required=True, description="why you look (case number)"),
            OpenApiParameter(
                "limit", int, description=f"newest reads returned, 1-{PLATE_MAX_LIMIT} (default {PLATE_DEFAULT_LIMIT})"
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    @audited(PLATE_SEARCH)
    def plates(self, request, *, look):
        plate = _text_param(
            request, "plate", low=1, high=PLATE_MAX_CHARS, required_message="a plate search needs a plate"
        )
        limit = parse_int_param(request, "limit", PLATE_DEFAULT_LIMIT, 1, PLATE_MAX_LIMIT)
        try:
            found = plate_reads(user=request.user, pattern=plate, limit=limit)
        except ValueError as exc:
            raise exceptions.ValidationError({"plate": str(exc)}) from None
        look.record(detail={"query": {"plate": plate, "limit": limit}, "count": found["count"], "via": "map search"})
        return Response({"plate": plate, **found})
