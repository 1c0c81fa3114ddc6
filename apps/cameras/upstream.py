"""Fetching a camera's stream for the proxy: from the camera's own server (httpx), or from a view on
this server marked as a stream source (the demo's simulated cameras).

Limits: a timeout per request, a size cap per answer, redirects followed only within the camera's
own origin, and every URI of a rewritten playlist checked against that origin again when fetched.
Every request resolves the camera's host and connects to the checked address itself (the Host
header and TLS name stay the camera's): loopback, link-local (cloud metadata), multicast, unspecified
and private addresses are refused unless RTCC_STREAM_ALLOWED_NETWORKS lists them, so a stream URL
cannot reach this server's own services, and a DNS answer that changes between check and connect
(rebinding) changes nothing. The health check (tasks.cameras_check_health) probes through here too.
An upstream failure becomes UpstreamError (502, or 504 on a timeout) whose message never names the
upstream URL: the camera's address, and any credentials, stay on the server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urljoin, urlsplit

import httpx
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve

MAX_REDIRECTS = 3
# RFC 8216: a playlist names other resources on URI lines and in URI="..." tag attributes
# (EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-PART, ...). Rewriting those
# two forms line by line keeps every other tag as the camera wrote it; the `m3u8` package would
# re-serialize the playlist and drop tags it does not model.
URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
MEDIA_TYPES = ("video/", "audio/", "image/", "application/octet-stream", "application/mp4")
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
USER_AGENT = "rtcc-gis stream proxy"
# httpx logs every request at INFO: one line per video segment per viewer, naming the camera's address.
logging.getLogger("httpx").setLevel(logging.WARNING)


class UpstreamError(Exception):
    """The camera's stream could not be relayed; `status` is 502 or 504, the message says why."""

    def __init__(self, message: str, status: int = 502, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.upstream_status = upstream_status  # what the camera's server answered, if it answered


@dataclass(frozen=True, slots=True)
class Fetched:
    content: bytes
    content_type: str


def stream_source(view: Callable) -> Callable:
    """Marks a view on this server as a camera stream source. It answers only inside the proxy, which
    sets `request.stream_grant`; a browser calling it directly with just a session is refused."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if getattr(request, "stream_grant", None) is None:
            return JsonResponse(
                {
                    "detail": "camera streams are served only through /api/streams/, with a grant from "
                    "POST /api/cameras/{id}/stream/"
                },
                status=403,
            )
        return view(request, *args, **kwargs)

    wrapped.rtcc_stream_source = True
    return wrapped


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for a path on this server."""
    try:
        parts = urlsplit(url)
        if not parts.scheme:
            return None
        port = parts.port
    except ValueError:
        raise UpstreamError("the camera's playlist names a malformed address") from None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or (443 if parts.scheme == "https" else 80)


def same_origin(url: str, stream_url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https", "") or (not parts.scheme and parts.netloc):
        return False  # another scheme, or "//host/..." in a playlist of a stream on this server
    return _origin(url) == _origin(stream_url)


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    global _client  # one pool of keep-alive connections per process, shared by the request threads
    if _client is None:
        # trust_env off: no proxy variables or .netrc credentials leak into requests to cameras.
        _client = httpx.Client(follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT})
    return _client


def _timeout(seconds: float | None = None) -> httpx.Timeout:
    return httpx.Timeout(settings.RTCC_STREAM_UPSTREAM_TIMEOUT if seconds is None else seconds)


def _status_error(status: int) -> UpstreamError:
    return UpstreamError(f"the camera's stream server answered {status}", upstream_status=status)


@contextmanager
def _upstream_errors():
    """What httpx (or a malformed address) raises, as an UpstreamError: never a 500."""
    try:
        yield
    except httpx.TimeoutException:
        raise UpstreamError("the camera's stream server did not answer in time", status=504) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        # InvalidURL is no HTTPError (a control character in a Location, say); ValueError from urljoin.
        raise UpstreamError("could not reach the camera's stream server") from None


# ---- Which addresses a camera may have -------------------------------------------------------------------------


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n) for n in settings.RTCC_STREAM_ALLOWED_NETWORKS]


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local, multicast, unspecified, private or otherwise non-global, and not allow-listed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return False
    return not any(address in network for network in _allowed_networks())


def _resolve(host: str, port: int) -> str:
    """The address to connect to for `host`: every address it resolves to must be allowed (a name
    that also points at a forbidden address is refused), and the first is the one used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UpstreamError("the camera's stream server's name does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise UpstreamError("the camera's stream server's name does not resolve")
    refused = next((a for a in addresses if _forbidden(a)), None)
    if refused is not None:
        raise UpstreamError(
            "the camera's stream server is at a loopback, link-local, private or reserved address, which "
            "RTCC_STREAM_ALLOWED_NETWORKS does not allow; not fetched"
        )
    return str(addresses[0])


def _pinned(
    client: httpx.Client | httpx.AsyncClient, method: str, url: str, address: str, timeout: float | None
) -> httpx.Request:
    """A request for `url` sent to the checked `address`, with the camera's own Host header and TLS
    server name (so certificates are checked against the camera's name, not its address)."""
    parts = httpx.URL(url)
    return client.build_request(
        method,
        parts.copy_with(host=address),
        headers={"Host": parts.netloc.decode("ascii")},
        timeout=_timeout(timeout),
        extensions={"sni_hostname": parts.host},
    )


def _target(url: str) -> tuple[str, int]:
    origin = _origin(url)
    if origin is None or origin[0] not in ("http", "https") or not origin[1]:
        raise UpstreamError("the camera's stream URL is not an http(s) address")
    return origin[1], origin[2]


# ---- One way to fetch: resolve, check, connect to the checked address, follow same-origin redirects ------------


def _redirect_target(response: httpx.Response, url: str) -> str:
    location = response.headers.get("location", "")
    try:
        target = urljoin(url, location)
    except ValueError:
        raise UpstreamError("the camera's stream server redirected to a malformed address; not followed") from None
    if not location or not same_origin(target, url):
        raise UpstreamError("the camera's stream server redirected to another host; not followed")
    return target


def _next_url(response: httpx.Response, url: str) -> str | None:
    """Where to go next: a same-origin redirect's target, None when `response` is the answer; else
    UpstreamError. The caller closes the response."""
    if response.is_redirect:
        return _redirect_target(response, url)
    if response.status_code != 200:
        raise _status_error(response.status_code)
    return None


TOO_MANY_REDIRECTS = "the camera's stream server redirected too many times"


def _open(
    url: str, auth: tuple[str, str] | None, *, method: str = "GET", timeout: float | None = None
) -> httpx.Response:
    """A streamed request for `url`, following same-origin redirects; the caller closes it."""
    client = _http()
    for _ in range(MAX_REDIRECTS + 1):
        with _upstream_errors():
            request = _pinned(client, method, url, _resolve(*_target(url)), timeout)
            response = client.send(request, auth=auth, stream=True)
        try:
            next_url = _next_url(response, url)
        except UpstreamError:
            response.close()
            raise
        if next_url is None:
            return response
        response.close()
        url = next_url
    raise UpstreamError(TOO_MANY_REDIRECTS)


def probe(url: str, auth: tuple[str, str] | None, timeout: float) -> bool:
    """Does the camera's stream or snapshot URL answer? HEAD first, GET (first bytes) when HEAD is
    refused. The same limits as the proxy: checked addresses, same-origin redirects, no proxy variables."""
    for method in ("HEAD", "GET"):
        try:
            response = _open(url, auth, method=method, timeout=timeout)
        except UpstreamError as exc:
            if method == "HEAD" and exc.upstream_status in (405, 501):
                continue
            return False
        try:
            if method == "GET":
                with _upstream_errors():
                    next(response.iter_raw(1024), b"")
            return True
        except UpstreamError:
            return False
        finally:
            response.close()
    return False


def _fetch_http(url: str, auth: tuple[str, str] | None) -> Fetched:
    limit = settings.RTCC_STREAM_MAX_BYTES
    response = _open(url, auth)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise UpstreamError(f"the camera sent more than {limit} bytes; refused")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise UpstreamError(f"the camera sent more than {limit} bytes; refused")
        return Fetched(bytes(body), response.headers.get("content-type", ""))
    except httpx.TimeoutException:
        raise UpstreamError("the camera's stream server stopped sending", status=504) from None
    except httpx.HTTPError:
        raise UpstreamError("the connection to the camera's stream server broke") from None
    finally:
        response.close()


def _fetch_local(path: str, request: HttpRequest, grant) -> Fetched:
    """A path on this server: only views marked @stream_source, called in-process with the grant."""
    try:
        match = resolve(urlsplit(path).path)
    except Resolver404:
        raise UpstreamError("the camera's stream path does not exist on this server") from None
    if not getattr(match.func, "rtcc_stream_source", False):
        raise UpstreamError("the camera's stream path is not a stream source on this server")
    request.stream_grant = grant
    try:
        response = match.func(request, *match.args, **match.kwargs)
    except Http404:
        raise _status_error(404) from None
    except PermissionDenied:
        raise _status_error(403) from None
    if response.status_code != 200:
        raise _status_error(response.status_code)
    content = b"".join(response) if response.streaming else response.content
    return Fetched(content, response.get("Content-Type", ""))


def fetch(url: str, *, stream_url: str, auth: tuple[str, str] | None, request: HttpRequest, grant) -> Fetched:
    """One resource of the camera's stream: `url` must be on the same origin as its `stream_url`."""
    if not same_origin(url, stream_url):
        raise UpstreamError("the camera's playlist points at another host; not relayed")
    if _origin(url) is None:
        return _fetch_local(url, request, grant)
    return _fetch_http(url, auth)


def is_playlist(fetched: Fetched) -> bool:
    return fetched.content.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"#EXTM3U")


def playlist_rewrite(text: str, *, base_url: str, sign: Callable[[str], str]) -> str:
    """The playlist with every URI (relative or absolute) resolved against `base_url` and replaced by
    `sign(absolute_url)`: the browser learns only proxy URLs."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            lines.append("")
        elif stripped.startswith("#"):
            lines.append(URI_ATTRIBUTE.sub(lambda m: f'URI="{sign(_absolute(base_url, m[1]))}"', stripped))
        else:
            lines.append(sign(_absolute(base_url, stripped)))
    return "\n".join(lines) + "\n"


def _absolute(base_url: str, uri: str) -> str:
    try:
        return urljoin(base_url, uri)
    except ValueError:  # "http://[::1/x": urlsplit refuses it
        raise UpstreamError("the camera's playlist names a malformed address") from None


# HLS parts by extension, for servers that label them badly (Debian's mime.types calls .ts Qt Linguist).
PART_TYPES = {
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".m4a": "audio/mp4",
    ".vtt": "text/vtt",
}


def media_type(content_type: str, default: str = "application/octet-stream", url: str = "") -> str:
    """The upstream's media type if it is one a stream may carry, else one from the part's extension;
    anything else is relayed as opaque bytes."""
    value = content_type.split(";")[0].strip().lower()
    if value.startswith(MEDIA_TYPES) and value != "application/octet-stream":
        return value
    path = urlsplit(url).path.lower()
    return next((kind for ext, kind in PART_TYPES.items() if path.endswith(ext)), default)


# ---- MJPEG: a multipart stream relayed as it arrives, while the viewer may still watch --------------------------


def _check_mjpeg(response_headers) -> str:
    content_type = response_headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/x-mixed-replace"):
        raise UpstreamError("the camera did not answer with an MJPEG (multipart/x-mixed-replace) stream")
    return content_type


def _recheck_seconds() -> float:
    return float(settings.RTCC_STREAM_RECHECK_SECONDS)


def mjpeg_open_sync(url: str, auth, until: float, allowed: Callable[[], bool]) -> tuple[str, Iterator[bytes]]:
    """For a WSGI server: a blocking iterator over the camera's multipart stream, ending at `until`, or
    at the first re-check (every RTCC_STREAM_RECHECK_SECONDS) where `allowed()` is false."""
    response = _open(url, auth)
    try:
        content_type = _check_mjpeg(response.headers)
    except UpstreamError:
        response.close()
        raise

    def relay() -> Iterator[bytes]:
        every = _recheck_seconds()
        recheck = time.monotonic() + every
        try:
            for chunk in response.iter_raw():
                yield chunk
                if time.time() >= until:
                    break
                if time.monotonic() >= recheck:
                    if not allowed():
                        break
                    recheck = time.monotonic() + every
        except httpx.HTTPError:
            pass  # the camera dropped: the player reconnects
        finally:
            response.close()

    return content_type, relay()


async def _mjpeg_connect(url: str, auth) -> tuple[httpx.AsyncClient, httpx.Response]:
    client = httpx.AsyncClient(follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT})
    try:
        for _ in range(MAX_REDIRECTS + 1):
            with _upstream_errors():
                address = await asyncio.to_thread(_resolve, *_target(url))
                response = await client.send(_pinned(client, "GET", url, address, None), auth=auth, stream=True)
            try:
                next_url = _next_url(response, url)
                if next_url is None:
                    _check_mjpeg(response.headers)
                    return client, response
            except UpstreamError:
                await response.aclose()
                raise
            await response.aclose()
            url = next_url
        raise UpstreamError(TOO_MANY_REDIRECTS)
    except UpstreamError:
        await client.aclose()
        raise


def mjpeg_open_async(url: str, auth, until: float, allowed: Callable[[], bool]) -> tuple[str, AsyncIterator[bytes]]:
    """For the ASGI server (Daphne): connect on the server's event loop (called from a sync view's
    thread), then relay without holding a thread for the life of the stream; `allowed()` (sync, it
    may read the database) runs in a worker thread at each re-check."""
    client, response = async_to_sync(_mjpeg_connect)(url, auth)

    async def relay() -> AsyncIterator[bytes]:
        every = _recheck_seconds()
        recheck = time.monotonic() + every
        try:
            async for chunk in response.aiter_raw():
                yield chunk
                if time.time() >= until:
                    break
                if time.monotonic() >= recheck:
                    if not await sync_to_async(allowed)():
                        break
                    recheck = time.monotonic() + every
        except httpx.HTTPError:
            pass
        finally:
            await response.aclose()
            await client.aclose()

    return response.headers["content-type"], relay()
