"""Stream grants: the only key to a camera's picture.

An audited open (services.camera_stream_open) mints a grant naming the user, the camera, the audit
event that recorded why they look, and when it expires. The browser reaches the stream only through
the proxy (apps.cameras.api.proxy) with that grant in the path; every part of an HLS stream (variant
playlists, segments, keys) is handed out as a "part" token sealed for the grant's user and camera,
fetched only under such a live grant, so the proxy fetches only what the camera's own playlists
named, never a URL a client made up.

A grant is signed (django.core.signing: its content, ids and expiry, is no secret); a part is
encrypted too (AES-SIV, from the `cryptography` package), because it holds the camera's address.
Both keys derive from SECRET_KEY under their own salts, so neither token passes for the other.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

GRANT_SALT = "rtcc.cameras.stream-grant"
PART_SALT = "rtcc.cameras.stream-part"


class GrantRefused(Exception):
    """The grant (or part token) does not open this stream; the message says why, for the player."""


@dataclass(frozen=True, slots=True)
class StreamGrant:
    """Who may watch which camera until when, and the audit event that recorded why."""

    user_id: int
    camera_id: int
    event_id: int
    expires: int  # Unix seconds
    token: str


def grant_mint(*, user_id: int, camera_id: int, event_id: int, ttl: int | None = None) -> StreamGrant:
    ttl = settings.RTCC_STREAM_GRANT_SECONDS if ttl is None else ttl
    expires = math.ceil(time.time()) + ttl  # whole seconds, never shorter than asked
    payload = {"u": user_id, "c": camera_id, "e": event_id, "x": expires}
    token = signing.dumps(payload, salt=GRANT_SALT, compress=True)
    return StreamGrant(user_id=user_id, camera_id=camera_id, event_id=event_id, expires=expires, token=token)


def grant_read(token: str, *, user_id: int) -> StreamGrant:
    """The grant in `token`, if it is genuine, unexpired and the caller's own; else GrantRefused."""
    try:
        payload = signing.loads(token, salt=GRANT_SALT)
        grant = StreamGrant(
            user_id=int(payload["u"]),
            camera_id=int(payload["c"]),
            event_id=int(payload["e"]),
            expires=int(payload["x"]),
            token=token,
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise GrantRefused("stream grant is forged or damaged: open the camera again") from None
    if grant.expires <= time.time():
        raise GrantRefused("stream grant has expired: open the camera again (a new, audited open)")
    if grant.user_id != user_id:
        raise GrantRefused("stream grant was issued to another user: open the camera yourself")
    return grant


def _part_cipher() -> AESSIV:
    # Derived from SECRET_KEY for this one use; a part token outlives no grant, so no rotation list.
    return AESSIV(salted_hmac(PART_SALT, "stream part key", algorithm="sha512").digest())


def part_seal(grant: StreamGrant, url: str) -> str:
    """A token for one upstream URL (absolute, or a path on this server) of `grant`'s camera, for its user.
    Sealed (encrypted and authenticated), not just signed: the camera's address stays on the server.
    Deterministic (AES-SIV): the same segment gets the same URI in every refresh of a live playlist,
    which hls.js checks to line refreshes up.

    It is fetched only under a live grant of the same user and camera, so a player that renewed its
    grant keeps refreshing a live playlist under the new one (no restart, no gap in the picture)."""
    payload = json.dumps({"u": grant.user_id, "c": grant.camera_id, "url": url}).encode()
    return base64.urlsafe_b64encode(_part_cipher().encrypt(payload, None)).decode().rstrip("=")


def part_open(grant: StreamGrant, token: str) -> str:
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(_part_cipher().decrypt(sealed, None))
        user_id, camera_id, url = int(payload["u"]), int(payload["c"]), payload["url"]
    except (InvalidTag, KeyError, TypeError, ValueError):
        raise GrantRefused("stream part is forged or damaged: reload the stream") from None
    if (user_id, camera_id) != (grant.user_id, grant.camera_id) or not isinstance(url, str):
        raise GrantRefused("stream part belongs to another grant: reload the stream")
    return url
