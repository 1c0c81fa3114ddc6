"""The demo city's simulated camera feed: one SVG frame per request, drawn from the camera and the clock.

Demo cameras that may be watched live point their `stream_url` here, so the map's camera panel
shows a moving picture without any video infrastructure. Nothing here is real footage. A few demo
cameras play real video instead: the HLS test pattern that `make demo` has ffmpeg write into
HLS_DIR (scripts/demo.sh), served by `camera_hls` under the same checks as a snapshot.

Like any camera, these answer only through the stream proxy (/api/streams/<grant>/...), on a grant
for this very camera from an audited open: a browser that asks here directly is refused.
"""

from __future__ import annotations

import random
import re
import zlib
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET

from apps.accounts.permissions import Perm, user_has_perm
from apps.cameras.choices import CameraStatus, Sharing
from apps.cameras.models import Camera
from apps.cameras.selectors import camera_list
from apps.cameras.upstream import stream_source

W, H = 640, 360
HORIZON = 170
# Where scripts/demo.sh has ffmpeg write the live HLS test pattern (playlist and rolling segments).
HLS_DIR = settings.BASE_DIR / "var" / "demo-hls"
HLS_FILE = re.compile(r"^index\d*\.(m3u8|ts)$")
HLS_TYPES = {"m3u8": "application/vnd.apple.mpegurl", "ts": "video/mp2t"}


def _live_camera(request: HttpRequest, external_id: str) -> Camera:
    """A live-shareable camera the user may watch; 403 for a role without live streams, else 404."""
    if not user_has_perm(request.user, Perm.VIEW_CAMERA_STREAM):
        raise PermissionDenied
    camera = (
        camera_list(user=request.user)
        .filter(external_id=external_id, sharing=Sharing.LIVE)
        .select_related("agency")
        .order_by("id")
        .first()
    )
    if camera is None:
        raise Http404("No live camera with that id.")
    if camera.pk != request.stream_grant.camera_id:
        raise PermissionDenied("the stream grant is for another camera")
    return camera


@login_required
@require_GET
@stream_source
def camera_hls(request: HttpRequest, external_id: str, name: str) -> HttpResponse:
    """The demo's HLS test pattern (playlist or segment), for a live camera the user may watch."""
    _live_camera(request, external_id)
    match = HLS_FILE.match(name)
    if not match:
        raise Http404("No such part of the demo stream.")
    try:
        data = (HLS_DIR / name).read_bytes()
    except FileNotFoundError:
        raise Http404("The demo video stream is not running (make demo starts it with ffmpeg).") from None
    response = HttpResponse(data, content_type=HLS_TYPES[match[1]])
    # The playlist changes every segment; a segment never changes once written.
    response["Cache-Control"] = "no-store" if match[1] == "m3u8" else "private, max-age=60"
    return response


@login_required
@require_GET
@stream_source
def camera_snapshot(request: HttpRequest, external_id: str) -> HttpResponse:
    """A frame from a live-shareable camera the user may see; 404 for anything else."""
    camera = _live_camera(request, external_id)
    response = HttpResponse(frame_svg(camera, timezone.now()), content_type="image/svg+xml")
    # Every request is a new frame; a cached one would freeze the "live" picture.
    response["Cache-Control"] = "no-store"
    # Opened directly, an SVG is a document: allow nothing but its own inline styles.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def frame_svg(camera: Camera, now: datetime) -> str:
    """The picture for `camera` at `now`: its own skyline (fixed per camera), traffic moving with time."""
    local = now.astimezone(ZoneInfo(camera.agency.time_zone))
    stamp = f"{local:%Y-%m-%d %H:%M:%S %Z}"
    name = escape(camera.name)
    if camera.status == CameraStatus.OFFLINE:
        body = _no_signal(now)
    else:
        body = _scene(zlib.crc32(camera.external_id.encode() or str(camera.pk).encode()), local, now.timestamp())
    if camera.ptz or camera.heading is None:
        view = f"PTZ 360° · range {camera.fov_range:.0f} m"
    else:
        view = f"HDG {camera.heading:03.0f}° · FOV {camera.fov_angle:.0f}° · {camera.fov_range:.0f} m"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="Simulated frame from {name}">'
        f"{body}"
        '<g font-family="DejaVu Sans Mono, Menlo, monospace" font-size="14" fill="#fff" '
        'stroke="#000" stroke-width="3" paint-order="stroke">'
        f'<text x="12" y="24">{name}</text>'
        f'<text x="{W - 12}" y="24" text-anchor="end" fill="#ff5a5a">● SIMULATED</text>'
        f'<text x="12" y="{H - 14}">{escape(stamp)}</text>'
        f'<text x="{W - 12}" y="{H - 14}" text-anchor="end">{escape(view)}</text>'
        "</g></svg>"
    )


def _no_signal(now: datetime) -> str:
    rng = random.Random(int(now.timestamp()))
    specks = "".join(
        f'<rect x="{rng.randrange(W)}" y="{rng.randrange(H)}" width="3" height="2" fill="#{rng.choice("3456789")}'
        f'{rng.choice("3456789")}{rng.choice("3456789")}"/>'
        for _ in range(160)
    )
    return (
        f'<rect width="{W}" height="{H}" fill="#111"/>{specks}'
        f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" font-family="sans-serif" font-size="36" '
        'fill="#ddd" stroke="#000" stroke-width="4" paint-order="stroke">NO SIGNAL</text>'
    )


def _sky(hour: int) -> tuple[str, str, bool]:
    """Top colour, bottom colour, and whether windows and headlights are on."""
    if 7 <= hour < 17:
        return "#7fb2e5", "#cfe3f5", False
    if hour in (6, 17, 18):
        return "#3b3f73", "#e39a6b", True
    return "#05070f", "#1b2340", True


def _scene(seed: int, local: datetime, t: float) -> str:
    rng = random.Random(seed)  # the same street for the same camera, frame after frame
    top, bottom, dark = _sky(local.hour)
    parts = [
        '<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/></linearGradient></defs>',
        f'<rect width="{W}" height="{HORIZON}" fill="url(#sky)"/>',
        f'<rect y="{HORIZON}" width="{W}" height="{H - HORIZON}" fill="{"#23262b" if dark else "#5d6168"}"/>',
    ]
    x = -rng.randrange(0, 40)
    while x < W:
        bw, bh = rng.randrange(40, 110), rng.randrange(40, 150)
        shade = rng.randrange(45, 120) if not dark else rng.randrange(20, 45)
        parts.append(
            f'<rect x="{x}" y="{HORIZON - bh}" width="{bw}" height="{bh}" fill="rgb({shade},{shade},{shade + 8})"/>'
        )
        for wy in range(HORIZON - bh + 8, HORIZON - 10, 16):
            for wx in range(x + 6, x + bw - 10, 14):
                if rng.random() < (0.35 if dark else 0.15):
                    parts.append(
                        f'<rect x="{wx}" y="{wy}" width="7" height="8" fill="{"#ffd86b" if dark else "#9fc3e0"}"/>'
                    )
        x += bw + rng.randrange(0, 12)
    # The road, in perspective, with lane marks that crawl toward the camera as time passes.
    parts.append(f'<polygon points="250,{HORIZON} 390,{HORIZON} {W},{H} 0,{H}" fill="#3a3d42"/>')
    offset = (t * 40) % 40
    parts.append(
        f'<line x1="320" y1="{HORIZON}" x2="320" y2="{H}" stroke="#e8d36a" stroke-width="4" '
        f'stroke-dasharray="22 18" stroke-dashoffset="{-offset:.1f}"/>'
    )
    # Cars: lane, speed and colour fixed per camera; position from the clock.
    for lane in range(rng.randrange(2, 5)):
        speed, phase = rng.uniform(30, 90), rng.uniform(0, 1000)
        colour = rng.choice(("#c0392b", "#ecf0f1", "#2c3e50", "#7f8c8d", "#2980b9", "#16a085", "#f1c40f"))
        depth = 0.25 + 0.7 * ((lane + 0.5) / 4)
        y = HORIZON + depth * (H - HORIZON) - 10
        size = 20 + 50 * depth
        span = W + 2 * size
        cx = ((phase + speed * t * (1 if lane % 2 else -1)) % span) - size
        parts.append(
            f'<rect x="{cx:.1f}" y="{y - size * 0.45:.1f}" width="{size:.1f}" height="{size * 0.45:.1f}" '
            f'rx="{size * 0.08:.1f}" fill="{colour}"/>'
        )
        if dark:
            parts.append(
                f'<circle cx="{cx + size * 0.9:.1f}" cy="{y - size * 0.15:.1f}" r="{size * 0.06:.1f}" fill="#fff6c0"/>'
            )
    # A few people on the sidewalk, drifting slowly.
    for _ in range(rng.randrange(1, 5)):
        speed, phase = rng.uniform(0.8, 2.0), rng.uniform(0, W)
        px = (phase + speed * t) % W
        py = HORIZON + rng.uniform(8, 30)
        shirt = f"#{rng.randrange(0x333333, 0xAAAAAA):06x}"
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py - 14:.1f}" r="4" fill="#d9b38c"/>'
            f'<rect x="{px - 4:.1f}" y="{py - 10:.1f}" width="8" height="14" fill="{shirt}"/>'
        )
    # Sensor noise so consecutive frames differ even on an empty street.
    noise = random.Random(int(t))
    parts.extend(
        f'<rect x="{noise.randrange(W)}" y="{noise.randrange(H)}" width="2" height="1" fill="#fff" opacity="0.25"/>'
        for _ in range(40)
    )
    return "".join(parts)
