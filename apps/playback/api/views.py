"""Playback: replay units, incidents and alerts over a past window, audited as a track replay."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import parse_time_param
from apps.core.geo import parse_bbox

from ..selectors import PLAYBACK_MAX_WINDOW, playback_frames, playback_state_at

DEFAULT_WINDOW = timedelta(hours=1)
REASON = OpenApiParameter("reason", str, required=True, description="why you replay (case number); recorded")
PLAYBACK = AuditedRead(
    "playback",
    actions=(AuditAction.PLAYBACK,),
    reason=Reason(required="a playback needs a reason (e.g. a case number)"),
    object_type="playback",
)
BBOX = OpenApiParameter("in_bbox", str, description="minlon,minlat,maxlon,maxlat")


class PlaybackViewSet(viewsets.ViewSet):
    """`GET /api/playback/` the frames of a window; `GET /api/playback/state/` the picture at one instant."""

    required_perms = {"replay": Perm.PLAYBACK, "state": Perm.PLAYBACK}

    def _bbox(self):
        raw = self.request.query_params.get("in_bbox")
        return parse_bbox(raw) if raw else None

    def _audit(self, look, *, detail: dict) -> None:
        look.record(detail={**detail, "in_bbox": self.request.query_params.get("in_bbox", "")})

    @extend_schema(
        operation_id="playback_replay",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME, required=True, description="start of the window"),
            OpenApiParameter(
                "end", OpenApiTypes.DATETIME, description="end of the window; default start + 1 h, at most 6 h"
            ),
            BBOX,
            REASON,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @audited(PLAYBACK)
    def replay(self, request, *, look):
        params = request.query_params
        if not params.get("start"):
            raise exceptions.ValidationError({"start": "give the start of the window (ISO 8601)"})
        start = parse_time_param("start", params["start"])
        end = parse_time_param("end", params["end"]) if params.get("end") else start + DEFAULT_WINDOW
        if end <= start:
            raise exceptions.ValidationError({"end": "must be after start"})
        if end - start > PLAYBACK_MAX_WINDOW:
            hours = PLAYBACK_MAX_WINDOW.total_seconds() / 3600
            raise exceptions.ValidationError({"end": f"a playback covers at most {hours:g} hours"})
        bbox = self._bbox()
        frames = playback_frames(user=request.user, start=start, end=end, bbox=bbox)
        self._audit(
            look,
            detail={
                "start": start,
                "end": end,
                "units": [u["id"] for u in frames["units"]],
                "fixes": sum(len(u["fixes"]) for u in frames["units"]),
                "incidents": len(frames["incidents"]),
                "alerts": len(frames["alerts"]),
                "gunshots": len(frames["gunshots"]),
            },
        )
        return Response(frames)

    @extend_schema(
        operation_id="playback_state",
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, required=True), BBOX, REASON],
        responses={200: OpenApiTypes.OBJECT},
    )
    @audited(PLAYBACK)
    def state(self, request, *, look):
        raw = request.query_params.get("at")
        if not raw:
            raise exceptions.ValidationError({"at": "give the instant (ISO 8601)"})
        at = parse_time_param("at", raw)
        bbox = self._bbox()
        state = playback_state_at(user=request.user, at=at, bbox=bbox)
        self._audit(
            look,
            detail={
                "at": at,
                "units": [u["id"] for u in state["units"]],
                "incidents": len(state["incidents"]),
                "alerts": len(state["alerts"]),
            },
        )
        return Response(state)
