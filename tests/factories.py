"""Plain factory functions for tests: each makes one valid record with sensible defaults."""

from __future__ import annotations

import functools
import itertools
from base64 import b32decode
from binascii import hexlify
from datetime import timedelta

from django.contrib.auth.hashers import get_hasher, make_password
from django.db import connection, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import Agency, User
from apps.accounts.services import totp_new_key
from apps.alpr.models import AlprRead, AlprSite, Hotlist, HotlistEntry
from apps.audit.chain import AUDIT_CHAIN_LOCK_KEY, event_hash
from apps.audit.models import AuditEvent
from apps.cameras.models import Camera
from apps.core.geo import make_point
from apps.incidents.models import Incident
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import Unit
from apps.zones.models import Zone

_seq = itertools.count(1)

# Pike Place Market area, Seattle.
LON, LAT = -122.3422, 47.6097
PASSWORD = "correct-horse-battery-staple-42"


def agency(code: str | None = None, **kw) -> Agency:
    code = code or f"AG{next(_seq)}"
    return Agency.objects.create(code=code, name=kw.pop("name", f"Agency {code}"), **kw)


@functools.cache
def _password_hash(algorithm: str) -> str:
    """PASSWORD hashed once per hasher: the real hasher (so the servers the browser tests start can
    check it), without paying its deliberate ~0.4 s for each of the thousands of test users."""
    return make_password(PASSWORD)


def user(*, agency: Agency | None, role: str, username: str | None = None, **kw) -> User:
    u = User(username=username or f"{role}{next(_seq)}", agency=agency, role=role, **kw)
    u.password = _password_hash(get_hasher().algorithm)  # the configured default hasher
    u.save()
    return u


def incident(*, agency: Agency, lon: float = LON, lat: float = LAT, **kw) -> Incident:
    kw.setdefault("cad_number", f"CAD-{next(_seq)}")
    kw.setdefault("type_code", "ROBBERY")
    kw.setdefault("type_description", "Robbery")
    kw.setdefault("priority", 1)
    kw.setdefault("received_at", timezone.now() - timedelta(minutes=5))
    return Incident.objects.create(agency=agency, location=make_point(lon, lat), **kw)


def camera(*, agency: Agency, lon: float = LON, lat: float = LAT, **kw) -> Camera:
    kw.setdefault("name", f"Camera {next(_seq)}")
    kw.setdefault("status", "online")
    on_request = kw.get("sharing") == "on_request"  # such a camera holds no stream (a database constraint)
    kw.setdefault("stream_url", "" if on_request else "https://video.example.test/cam.m3u8")
    kw.setdefault("stream_kind", "" if on_request else "hls")
    cam = Camera(agency=agency, location=make_point(lon, lat), **kw)
    cam.save()
    return cam


def unit(*, agency: Agency, lon: float | None = LON, lat: float | None = LAT, **kw) -> Unit:
    kw.setdefault("call_sign", f"U{next(_seq)}")
    if lon is not None:
        kw.setdefault("last_location", make_point(lon, lat))
        kw.setdefault("last_seen", timezone.now())
    return Unit.objects.create(agency=agency, **kw)


def zone(*, agency: Agency, kind: str = "beat", code: str | None = None, bbox=None, **kw) -> Zone:
    from django.contrib.gis.geos import MultiPolygon, Polygon

    bbox = bbox or (LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)
    poly = Polygon.from_bbox(bbox)
    poly.srid = 4326
    return Zone.objects.create(
        agency=agency,
        kind=kind,
        code=code or f"Z{next(_seq)}",
        name=kw.pop("name", "Zone"),
        geom=MultiPolygon(poly, srid=4326),
        **kw,
    )


def alpr_site(*, agency: Agency, lon: float = LON, lat: float = LAT, **kw) -> AlprSite:
    kw.setdefault("name", f"ALPR {next(_seq)}")
    return AlprSite.objects.create(agency=agency, location=make_point(lon, lat), **kw)


def hotlist_entry(*, agency: Agency, plate: str, **kw) -> HotlistEntry:
    hl = kw.pop("hotlist", None) or Hotlist.objects.create(agency=agency, name=f"Hotlist {next(_seq)}")
    kw.setdefault("reason", "Stolen vehicle")
    return HotlistEntry.objects.create(hotlist=hl, plate=plate, **kw)


def alpr_read(*, agency: Agency, plate: str, lon: float = LON, lat: float = LAT, **kw) -> AlprRead:
    kw.setdefault("read_at", timezone.now())
    return AlprRead.objects.create(agency=agency, plate=plate, location=make_point(lon, lat), **kw)


def gunshot(*, agency: Agency, lon: float = LON, lat: float = LAT, **kw) -> GunshotDetection:
    kw.setdefault("detected_at", timezone.now())
    kw.setdefault("source", "test")
    kw.setdefault("source_id", f"G{next(_seq)}")
    return GunshotDetection.objects.create(agency=agency, location=make_point(lon, lat), **kw)


def alert(*, agency: Agency, lon: float = LON, lat: float = LAT, **kw) -> Alert:
    kw.setdefault("kind", "panic")
    kw.setdefault("title", "Panic button")
    kw.setdefault("raised_at", timezone.now())
    return Alert.objects.create(agency=agency, location=make_point(lon, lat), **kw)


def audit_event_at(
    *, at, user=None, action: str = "test.old", detail: dict | None = None, agency_id=None
) -> AuditEvent:
    """A chained audit event stamped `at`, written as the app role writes events (INSERT, the one write it has on
    the trail) and chained exactly as audit_record chains one; audit_record itself always stamps the database's
    clock."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK_KEY])
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id')), "
            "(SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1)"
        )
        new_id, prev = cur.fetchone()
        fields = {
            "id": new_id,
            "at": at,
            "user_id": user.pk if user else None,
            "username": user.username if user else "",
            "agency_id": agency_id or (user.agency_id if user else None),
            "action": str(action),
            "object_type": "",
            "object_id": "",
            "reason": "",
            "detail": detail if detail is not None else {},
            "ip": None,
            "prev_hash": prev or "",
        }
        return AuditEvent.objects.create(**fields, hash=event_hash(fields))


def old_audit_event(age_days: float = 2565) -> AuditEvent:
    """A chained audit event stamped `age_days` ago. Default: past the audit period."""
    return audit_event_at(at=timezone.now() - timedelta(days=age_days), detail={"n": 1})


def totp_key(secret: str) -> bytes:
    """The raw key behind a base32 TOTP secret (as an authenticator app holds it)."""
    return b32decode(secret + "=" * (-len(secret) % 8))


def totp_enrol(user: User) -> str:
    """An enrolled second factor, as enrolment leaves it (the current code not yet used); returns the secret."""
    secret = totp_new_key()
    key = hexlify(totp_key(secret)).decode()
    TOTPDevice.objects.create(user=user, name="authenticator app", key=key, confirmed=True)
    user.totp_confirmed_at = timezone.now()
    user.save()
    return secret
