"""Failed sign-in counting and lockout, per username and per client address, in the shared cache.

The cache is Redis in every deployment, so every Daphne/Gunicorn process sees the same counters.
Counting is per username whether or not the account exists (locking only real accounts would tell
an attacker which usernames are valid), and per IP with a higher threshold so one address cannot
spray many accounts. A lock refuses every attempt, right password or not, until it expires; only a
complete sign-in (password and, when enrolled, the 2FA code) clears the username's counter.

Fails closed: when the cache cannot be reached, nothing is counted or checked, so every function
here raises ServiceUnavailable and the sign-in answers 503 (apps.core.unavailable) instead of
letting attempts through uncounted.

Settings (read at call time so tests and operators can change them):
RTCC_LOGIN_MAX_FAILURES (5), RTCC_LOGIN_WINDOW_SECONDS (900), RTCC_LOGIN_LOCKOUT_SECONDS (900);
the address threshold is 4 x RTCC_LOGIN_MAX_FAILURES.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from apps.core.unavailable import CACHE, fail_closed

logger = logging.getLogger(__name__)

IP_FACTOR = 4
UNAVAILABLE = (
    "Sign-in is unavailable: the store that counts failed attempts (Redis) is down, and signing in "
    "without it would switch the lockout off. Retry shortly."
)

_fail_closed = fail_closed(CACHE, UNAVAILABLE)


def max_failures() -> int:
    return int(getattr(settings, "RTCC_LOGIN_MAX_FAILURES", 5))


def window_seconds() -> int:
    return int(getattr(settings, "RTCC_LOGIN_WINDOW_SECONDS", 900))


def lockout_seconds() -> int:
    return int(getattr(settings, "RTCC_LOGIN_LOCKOUT_SECONDS", 900))


def _now() -> float:
    """Wall-clock seconds; a function so tests can move time forward without sleeping."""
    return time.time()


def client_ip(request: HttpRequest | None) -> str:
    """The peer address. X-Forwarded-For is deliberately not read: anyone can send it, so a proxy
    in front must set REMOTE_ADDR itself (e.g. daphne --proxy-headers)."""
    if request is None:
        return "unknown"
    return request.META.get("REMOTE_ADDR") or "unknown"


def _username_id(username: str) -> str:
    # Hashed so arbitrary user input never becomes part of a cache key; case-folded so "Admin"
    # and "admin" share one budget.
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def _keys(kind: str, ident: str) -> tuple[str, str]:
    return f"login:fail:{kind}:{ident}", f"login:lock:{kind}:{ident}"


def _subjects(username: str | None, ip: str) -> list[tuple[str, str, int]]:
    """(kind, identifier, threshold) for what an attempt counts against."""
    subjects = [("ip", ip, IP_FACTOR * max_failures())]
    if username:
        subjects.insert(0, ("user", _username_id(username), max_failures()))
    return subjects


@_fail_closed
def is_locked(username: str | None, ip: str) -> bool:
    """True while the username or the address is locked."""
    now = _now()
    for kind, ident, _threshold in _subjects(username, ip):
        until = cache.get(_keys(kind, ident)[1])
        # The lock stores its end time: the cache TTL only cleans up, the comparison decides.
        if until is not None and float(until) > now:
            return True
    return False


def _increment(key: str) -> int:
    # The window is fixed from the first failure: add() sets the TTL once, incr() keeps it.
    cache.add(key, 0, timeout=window_seconds())
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=window_seconds())
        return 1


@_fail_closed
def record_failure(username: str | None, ip: str) -> bool:
    """Count one failed attempt; returns True if it locked the username or the address."""
    locked = False
    for kind, ident, threshold in _subjects(username, ip):
        fail_key, lock_key = _keys(kind, ident)
        if _increment(fail_key) >= threshold:
            duration = lockout_seconds()
            cache.set(lock_key, _now() + duration, timeout=duration + 1)
            # A fresh budget after the lock, rather than locking again on the next single miss.
            cache.delete(fail_key)
            # The address is logged for the operator; the username only as its hash prefix, since
            # people sometimes type their password into the username field.
            shown = ident if kind == "ip" else ident[:8]
            logger.warning("sign-in locked: %s %s after %d failures", kind, shown, threshold)
            locked = True
    return locked


@_fail_closed
def record_success(username: str) -> None:
    """A complete sign-in: the username's counter starts over. The address counter is kept, so one
    valid account cannot be used to wash out failures against other accounts from that address."""
    cache.delete(_keys("user", _username_id(username))[0])


def failure_count(username: str) -> int:
    """Current failures counted against a username (for tests and the admin)."""
    return int(cache.get(_keys("user", _username_id(username))[0]) or 0)
