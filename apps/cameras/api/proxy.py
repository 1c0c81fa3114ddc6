"""The stream proxy: the only way a browser reaches a camera's picture.

GET /api/streams/<grant>/index.m3u8 | mjpeg | snapshot   the stream a grant opens (by the camera's kind)
GET /api/streams/<grant>/part/<part>                     a playlist's variant, segment or key

Each request checks the grant (signature, expiry, that it is the caller's own), then that the caller
may still watch that camera (role, agency or sharing, live sharing), then relays the upstream. An
MJPEG relay, one long request, checks again every RTCC_STREAM_RECHECK_SECONDS (and that the viewer
is still active and signed in) and ends when that fails, or when the grant expires.
Refusals are JSON with a `detail` saying why: 401 signed out, 403 grant refused or right revoked,
404 a name that is not this camera's kind, 502/504 the camera's server failed.

DRF views, so the API's own sign-ins (session, API token) apply; what they answer is the upstream's
bytes, whatever the client's Accept header says (a <video> or <img> asks for */* or image types).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from apps.accounts.middleware import session_has_ended
from apps.accounts.models import ApiToken, User

from .. import upstream
from ..choices import StreamKind
from ..grants import GrantRefused, StreamGrant, grant_read, part_open, part_seal
from ..models import Camera
from ..selectors import camera_stream_auth, camera_watchable
from ..services import PROXY_ENTRY

# A proxied answer is never a document: an SVG snapshot opened on its own runs no script, loads nothing.
SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _json(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _authorize(request: HttpRequest, token: str) -> tuple[StreamGrant, Camera]:
    try:
        grant = grant_read(token, user_id=request.user.pk)
    except GrantRefused as exc:
        raise Refused(403, str(exc)) from None
    camera = camera_watchable(user=request.user, camera_id=grant.camera_id)
    if camera is None:
        raise Refused(403, "you may no longer watch this camera live")
    return grant, camera


def _relay(body: bytes | str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"  # live video; and nothing of it belongs in a shared cache
    response["Content-Security-Policy"] = SANDBOX_CSP
    return response


def _playlist(grant: StreamGrant, fetched: upstream.Fetched, base_url: str, here: str) -> HttpResponse:
    """The playlist with each URI replaced by a part URI relative to where this playlist is served
    (`here`: "" for the stream's entry, "part" for a part): no grant in it, so a player that renewed
    its grant sees the same URIs in each refresh of a live playlist."""
    prefix = "part/" if here == "" else ""

    def sign(url: str) -> str:
        return prefix + part_seal(grant, url)

    text = fetched.content.decode("utf-8", errors="replace")
    return _relay(upstream.playlist_rewrite(text, base_url=base_url, sign=sign), upstream.PLAYLIST_TYPE)


def _still_allowed(request: HttpRequest, grant: StreamGrant) -> Callable[[], bool]:
    """For a relay that outlives its request: is the viewer still signed in (session not signed out
    nor idle, API token not revoked or expired), still active, and still allowed to watch this camera?"""
    user_id = request.user.pk
    session = getattr(request, "session", None)
    token = request.auth if isinstance(getattr(request, "auth", None), ApiToken) else None

    def check() -> bool:
        if token is not None:
            fresh = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).first()
            if fresh is None or fresh.is_expired:
                return False
        elif session_has_ended(session):
            return False
        user = User.objects.select_related("agency").filter(pk=user_id, is_active=True).first()
        return user is not None and camera_watchable(user=user, camera_id=grant.camera_id) is not None

    return check


def _mjpeg(request: HttpRequest, grant: StreamGrant, camera: Camera) -> HttpResponse:
    # The relay ends when the grant does (the player then renews it: a new audited open, and reconnects), or at
    # the first re-check (every RTCC_STREAM_RECHECK_SECONDS) after the right was revoked or the viewer signed out.
    opener = upstream.mjpeg_open_async if isinstance(request, ASGIRequest) else upstream.mjpeg_open_sync
    content_type, chunks = opener(
        camera.stream_url, camera_stream_auth(camera), grant.expires, _still_allowed(request, grant)
    )
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = SANDBOX_CSP
    return response


class AnyAccept(BaseContentNegotiation):
    """Errors are JSON and media is the camera's; neither depends on the client's Accept header."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ProxyView(APIView):
    permission_classes = [IsAuthenticated]  # the camera's own rules are checked per grant, below
    content_negotiation_class = AnyAccept


RESPONSES = {
    (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="the stream, relayed"),
    401: OpenApiResponse(description="signed out"),
    403: OpenApiResponse(description="grant forged, expired or another user's; or no longer allowed"),
    404: OpenApiResponse(description="not this camera's kind of stream"),
    502: OpenApiResponse(description="the camera's server failed or answered something else"),
    504: OpenApiResponse(description="the camera's server did not answer in time"),
}


class StreamEntryView(ProxyView):
    @extend_schema(responses=RESPONSES, summary="A camera's stream, through the proxy, on a grant")
    def get(self, request, token: str, name: str) -> HttpResponse:
        return stream_entry(request._request, token, name)


class StreamPartView(ProxyView):
    @extend_schema(responses=RESPONSES, summary="A part (variant, segment, key) of an HLS stream, on a grant")
    def get(self, request, token: str, part: str) -> HttpResponse:
        return stream_part(request._request, token, part)


def stream_entry(request: HttpRequest, token: str, name: str) -> HttpResponse:
    try:
        grant, camera = _authorize(request, token)
        if PROXY_ENTRY.get(camera.stream_kind) != name:
            return _json(404, f"this camera's stream is {camera.stream_kind or 'not set'}; no {name!r} here")
        if camera.stream_kind == StreamKind.MJPEG:
            return _mjpeg(request, grant, camera)
        fetched = upstream.fetch(
            camera.stream_url,
            stream_url=camera.stream_url,
            auth=camera_stream_auth(camera),
            request=request,
            grant=grant,
        )
        if camera.stream_kind == StreamKind.HLS:
            if not upstream.is_playlist(fetched):
                raise upstream.UpstreamError("the camera did not answer with an HLS playlist")
            return _playlist(grant, fetched, camera.stream_url, here="")
        content_type = upstream.media_type(fetched.content_type, default="")
        if not content_type.startswith("image/"):
            raise upstream.UpstreamError("the camera did not answer with an image")
        return _relay(fetched.content, content_type)
    except Refused as exc:
        return _json(exc.status, str(exc))
    except upstream.UpstreamError as exc:
        return _json(exc.status, str(exc))


def stream_part(request: HttpRequest, token: str, part: str) -> HttpResponse:
    try:
        grant, camera = _authorize(request, token)
        if camera.stream_kind != StreamKind.HLS:
            return _json(404, "only HLS streams have parts")
        try:
            url = part_open(grant, part)
        except GrantRefused as exc:
            raise Refused(403, str(exc)) from None
        fetched = upstream.fetch(
            url, stream_url=camera.stream_url, auth=camera_stream_auth(camera), request=request, grant=grant
        )
        if upstream.is_playlist(fetched):  # a variant of a multivariant playlist
            return _playlist(grant, fetched, url, here="part")
        return _relay(fetched.content, upstream.media_type(fetched.content_type, url=url))
    except Refused as exc:
        return _json(exc.status, str(exc))
    except upstream.UpstreamError as exc:
        return _json(exc.status, str(exc))
