"""The video wall: the map beside a grid of live camera tiles, for the RTCC's wall screens.

/wall/?cameras=12,7,31 shows those cameras; /wall/?incident=5 the cameras ranked for an incident;
?layout=3x3 sets the grid (columns x rows; by default the smallest that fits). ?reason= is the purpose
recorded with every stream the wall opens (the page asks for one when neither it nor an incident is
given). Each stream is still opened, and audited, by POST /api/cameras/{pk}/stream/ from the page.
"""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from apps.accounts.permissions import Perm, user_has_perm
from apps.audit.reads import parse_reason
from apps.cameras.choices import Sharing
from apps.cameras.models import Camera
from apps.cameras.selectors import camera_list, cameras_seeing_point
from apps.core.params import ParamError, parse_id
from apps.incidents.selectors import incident_list

from .views import map_config, no_map_page

LAYOUT = re.compile(r"^([1-4])x([1-4])$")
MAX_CAMERAS = 16
# The smallest grid (columns, rows) for a number of tiles.
DEFAULT_LAYOUTS = [(1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (4, 3), (4, 4)]
INCIDENT_DEFAULT_LAYOUT = (2, 2)
WALL_ZOOM = 16
# The wall's purpose is part of each stream's reason: the wall puts the incident before it, and the whole
# must stay within the one reason cap (apps.audit.reads.REASON_MAX_CHARS).
MAX_REASON = 200


class WallRequestError(Exception):
    """A wall URL the page cannot honour; the message names the parameter."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _default_layout(count: int) -> tuple[int, int]:
    return next((c, r) for c, r in DEFAULT_LAYOUTS if c * r >= count)


def _parse_layout(value: str) -> tuple[int, int] | None:
    if not value:
        return None
    match = LAYOUT.match(value)
    if not match:
        raise WallRequestError(f"layout: expected columns x rows from 1x1 to 4x4 (e.g. 2x2), got {value!r}")
    return int(match[1]), int(match[2])


def _is_id(text: str) -> bool:
    return parse_id(text) is not None


def _parse_ids(value: str) -> list[int]:
    ids: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not _is_id(part):
            raise WallRequestError(f"cameras: {part!r} is not a camera id (give ids separated by commas)")
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) > MAX_CAMERAS:
        raise WallRequestError(f"cameras: at most {MAX_CAMERAS} cameras on one wall, got {len(ids)}")
    return ids


def _wall_reason(raw: str) -> str:
    """The wall's purpose by the one reason rule (apps.audit.reads), runs of spaces made one."""
    text = " ".join(raw.split())
    if len(text) > MAX_REASON:
        raise WallRequestError(f"reason: at most {MAX_REASON} characters on a wall, got {len(text)}")
    try:
        return parse_reason(text)
    except ParamError as exc:
        raise WallRequestError(f"reason: {exc.reason}") from None


TILE_FIELDS = ("id", "name", "owner_kind", "status", "sharing", "stream_kind")


def _tile(camera: Camera) -> dict:
    return {"id": camera.pk, **{key: getattr(camera, key) for key in TILE_FIELDS[1:]}}


def wall_setup(*, user, params) -> dict:
    """What the wall shows, from its query string; raises WallRequestError."""
    cameras_param = params.get("cameras", "").strip()
    incident_param = params.get("incident", "").strip()
    reason = _wall_reason(params.get("reason", ""))
    layout = _parse_layout(params.get("layout", "").strip())
    if cameras_param and incident_param:
        raise WallRequestError("cameras, incident: give one or the other, not both")
    if (cameras_param or incident_param) and not user_has_perm(user, Perm.VIEW_CAMERA_STREAM):
        raise WallRequestError("cameras: your role may not watch live camera streams", status=403)
    setup: dict = {"cameras": [], "incident": None, "reason": reason, "center": None}
    if cameras_param:
        ids = _parse_ids(cameras_param)
        found = {cam.pk: cam for cam in camera_list(user=user).filter(pk__in=ids).defer("view")}
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise WallRequestError(f"cameras: no camera {', '.join(missing)} that you can see", status=404)
        if layout and layout[0] * layout[1] < len(ids):
            raise WallRequestError(
                f"layout: {layout[0]}x{layout[1]} holds {layout[0] * layout[1]} tiles, {len(ids)} cameras given"
            )
        setup["cameras"] = [_tile(found[pk]) for pk in ids]
        points = [found[pk].location for pk in ids]
        setup["center"] = [sum(p.y for p in points) / len(points), sum(p.x for p in points) / len(points)]
    elif incident_param:
        if not _is_id(incident_param):
            raise WallRequestError(f"incident: {incident_param!r} is not an incident id")
        incident = incident_list(user=user).filter(pk=int(incident_param)).first()
        if incident is None:
            raise WallRequestError(f"incident: no incident {incident_param} that you can see", status=404)
        cols, rows = layout or INCIDENT_DEFAULT_LAYOUT
        # Ranked as in the incident panel (cameras that see it first); only those that may be watched live.
        ranked = cameras_seeing_point(user=user, point=incident.location, limit=MAX_CAMERAS)
        live = [r["camera"] for r in ranked if r["camera"]["sharing"] == Sharing.LIVE and r["camera"]["stream_kind"]]
        setup["cameras"] = [{key: cam[key] for key in TILE_FIELDS} for cam in live[: cols * rows]]
        setup["incident"] = {"id": incident.pk, "cad_number": incident.cad_number, "type_code": incident.type_code}
        setup["center"] = [incident.location.y, incident.location.x]
    cols, rows = layout or _default_layout(max(len(setup["cameras"]), 1))
    setup["layout"] = {"cols": cols, "rows": rows}
    return setup


@login_required
@require_GET
@ensure_csrf_cookie
def wall_page(request: HttpRequest) -> HttpResponse:
    if not user_has_perm(request.user, Perm.VIEW_LAYERS):
        return no_map_page(request)  # the wall is a map: not for a role without one (an auditor)
    try:
        wall = wall_setup(user=request.user, params=request.GET)
    except WallRequestError as exc:
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain; charset=utf-8")
    config = map_config(request.user)
    center = wall.pop("center")
    if center:
        config["center"] = center
        config["zoom"] = WALL_ZOOM
    config["wall"] = wall
    return render(request, "wall.html", {"config": config, "wall": wall})
