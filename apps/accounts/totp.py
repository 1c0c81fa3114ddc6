"""Time-based one-time passwords (RFC 6238 TOTP over RFC 4226 HOTP), standard library only.

Any authenticator app (FreeOTP, Aegis, Google Authenticator, a password manager) works with these
parameters: SHA-1, 6 digits, 30 s step. A code is accepted for the step before and after the
current one (clock drift), and each step's code is accepted only once per user: the last used
counter is remembered in the cache, so a code read over a shoulder or replayed from a proxy log
within its lifetime is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from django.core.cache import cache

STEP_SECONDS = 30
DIGITS = 6
TOLERANCE_STEPS = 1
# 160 bits, the key length RFC 4226 section 4 recommends for HMAC-SHA1.
SECRET_BYTES = 20

# hashlib.sha1 / sha256 / sha512: what hmac.new() takes as digestmod.
DigestFactory = Callable[..., Any]


def generate_secret() -> str:
    """A new random key as unpadded base32 (what authenticator apps expect to be typed in)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a base32 secret; tolerant of spaces, lower case and missing padding."""
    cleaned = secret.replace(" ", "").upper()
    cleaned += "=" * (-len(cleaned) % 8)
    return base64.b32decode(cleaned)


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: DigestFactory = hashlib.sha1) -> str:
    """RFC 4226 HOTP value for `counter`, zero-padded to `digits`."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    # Dynamic truncation (RFC 4226 section 5.3): the low nibble of the last byte picks 4 bytes.
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % (10**digits)).zfill(digits)


def counter_at(timestamp: float, *, step: int = STEP_SECONDS) -> int:
    """The RFC 6238 time step number T for a Unix time (T0 = 0)."""
    return int(timestamp // step)


def totp(
    key: bytes,
    timestamp: float,
    *,
    step: int = STEP_SECONDS,
    digits: int = DIGITS,
    digest: DigestFactory = hashlib.sha1,
) -> str:
    """RFC 6238 TOTP value at `timestamp`."""
    return hotp(key, counter_at(timestamp, step=step), digits=digits, digest=digest)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps import (Key Uri Format); shown as text, never sent anywhere."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_SECONDS},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def normalize_code(code: str) -> str | None:
    """The code as `DIGITS` digits, or None. Apps often show "123 456", so spaces are dropped."""
    cleaned = (code or "").replace(" ", "").replace("-", "").strip()
    if len(cleaned) != DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def matching_counter(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step within the tolerance whose code equals `code`, or None (no replay check)."""
    cleaned = normalize_code(code)
    if cleaned is None or not secret:
        return None
    try:
        key = decode_secret(secret)
    except (ValueError, TypeError):
        return None
    current = counter_at(time.time() if now is None else now)
    found = None
    # Every candidate is compared (no early return) and in constant time, so the response time
    # does not tell which step matched.
    for counter in range(current - TOLERANCE_STEPS, current + TOLERANCE_STEPS + 1):
        if hmac.compare_digest(hotp(key, counter), cleaned):
            found = counter
    return found


def _last_counter_key(scope: str) -> str:
    return f"totp:last:{scope}"


def verify(secret: str, code: str, *, scope: str, now: float | None = None) -> bool:
    """True if `code` is valid now for `secret` and its step was not used before in `scope` (a user).

    Remembers the accepted step so the same code (or an older one still inside the tolerance) is
    refused afterwards.
    """
    counter = matching_counter(secret, code, now=now)
    if counter is None:
        return False
    # Only steps inside the tolerance can ever match, so the memory only has to outlive them.
    ttl = STEP_SECONDS * (2 * TOLERANCE_STEPS + 2)
    last = cache.get(_last_counter_key(scope))
    if last is not None and counter <= int(last):
        return False
    # Two requests racing with the same code: only the one that claims this step first wins
    # (cache.add is an atomic SET NX on Redis).
    if not cache.add(f"totp:used:{scope}:{counter}", 1, timeout=ttl):
        return False
    cache.set(_last_counter_key(scope), counter, timeout=ttl)
    return True
