"""Load the simulated demo city into the database: one transaction, bulk inserts, one seed.

`demo_city_load` is what `manage.py load_demo_city` (and so `make demo`) runs. Plans come from
`apps.demo.city` (pure); this module only turns them into rows, fast enough that the default
year of 20,000 incidents loads in seconds.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import time
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.urls import reverse
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.models import Agency, User
from apps.alpr.models import AlprRead, AlprSite, Hotlist, HotlistEntry, normalize_plate
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.services import audit_record
from apps.cameras.choices import CameraStatus, OwnerKind, Sharing, StreamKind
from apps.cameras.models import Camera
from apps.cameras.selectors import cameras_seeing_point
from apps.cameras.services import camera_stream_open
from apps.core.geo import SRID
from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Incident, NarrativeEntry
from apps.live.layers import LAYERS as LIVE_LAYERS
from apps.live.publish import publish_reload
from apps.measures.choices import AssistKind
from apps.measures.services import incident_assist_create
from apps.sensors.choices import AckOutcome, AlertKind, AlertStatus
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import Unit, UnitPosition
from apps.zones.choices import ZoneKind
from apps.zones.models import Zone

from . import city

DEFAULT_PASSWORD = "rtcc-demo-2026!"
DEMO_USERS: tuple[tuple[str, str], ...] = (
    ("operator", Role.OPERATOR),
    ("commander", Role.WATCH_COMMANDER),
    ("planner", Role.PLANNER),
    ("admin", Role.AGENCY_ADMIN),
    ("auditor", Role.AUDITOR),
)
BATCH = 2000
# Demo cameras that play the ffmpeg HLS test pattern rather than SVG snapshots.
DEMO_HLS_CAMERAS = 6
DEMO_HLS_PLAYLIST = "index.m3u8"  # in apps.demo.views.HLS_DIR, written by ffmpeg (scripts/demo.sh)
HIT_OUTCOMES = (AckOutcome.CONFIRMED, AckOutcome.FALSE_POSITIVE, AckOutcome.UNKNOWN)
ACK_NOTES = (
    "Checked on the map; sector units advised.",
    "Vehicle not located; BOLO broadcast to all units.",
    "Confirmed with patrol on scene; handled.",
    "Duplicate of an open call; linked.",
)


def default_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD


def _point(lon: float, lat: float) -> Point:
    return Point(lon, lat, srid=SRID)


def demo_city_load(
    *, seed: int, incidents: int, reset: bool, stdout: TextIO | None = None, password: str | None = None
) -> dict:
    """Create the demo agency and its city, or leave an existing one alone unless `reset`.

    Either way the demo users end up with `password`. Returns the counts of what the agency holds,
    with `loaded` telling whether this call generated anything.
    """
    if incidents < 0:
        raise ValueError("incidents must be zero or more")
    out = stdout or io.StringIO()
    started = time.monotonic()
    spec = city.load_spec()
    password = password or default_password()
    with transaction.atomic():
        # Two loaders at once (a double `make demo`) would race on the agency row; queue them.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('rtcc-gis demo city load'))")
        agency = Agency.objects.filter(code=spec.agency["code"]).first()
        if agency is not None and not reset:
            demo_users_ensure(agency=agency, password=password, stdout=out)
            counts = demo_city_counts(agency=agency)
            out.write(
                f"Demo city already loaded for {agency} ({counts['incidents']} incidents); nothing changed. "
                "Use --reset to rebuild it.\n"
            )
            return {**counts, "loaded": False}
        if agency is None:
            agency = Agency.objects.create(
                code=spec.agency["code"], name=spec.agency["name"], time_zone=spec.agency["time_zone"]
            )
        else:
            demo_city_clear(agency=agency)
            out.write(f"Cleared the previous demo data of {agency}.\n")
            # Maps open on the old city resync onto the new one (one event per layer, not one per row).
            for layer in LIVE_LAYERS:
                publish_reload(layer=layer, agency_id=agency.pk)
        users = demo_users_ensure(agency=agency, password=password, stdout=out)
        _Loader(spec=spec, agency=agency, users=users, seed=seed).run(incidents=incidents)
        counts = demo_city_counts(agency=agency)
        audit_record(
            user=None,
            action=AuditAction.IMPORT,
            object_type="demo.city",
            object_id=agency.code,
            reason="load_demo_city" + (" --reset" if reset else ""),
            detail={"seed": seed, "counts": counts},
        )
    elapsed = time.monotonic() - started
    out.write(
        f"Loaded the demo city in {elapsed:.1f} s: "
        + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
        + ".\n"
    )
    return {**counts, "loaded": True, "elapsed_s": round(elapsed, 2)}


def demo_users_ensure(*, agency: Agency, password: str, stdout: TextIO | None = None) -> dict[str, User]:
    """One user per role in the demo agency, all with `password`; returns them by username.

    A username already taken outside the demo agency is left alone (with a warning) rather than
    moved into it: it may be someone's real account.
    """
    out = stdout or io.StringIO()
    # One hash shared by the five accounts: PBKDF2 is slow on purpose and the password is the same.
    encoded = make_password(password)
    users: dict[str, User] = {}
    for username, role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is not None and user.agency_id != agency.id:
            out.write(f"Warning: user {username!r} exists outside the demo agency; left unchanged.\n")
            continue
        if user is None:
            user = User(username=username)
        user.agency = agency
        user.role = role
        user.is_active = True
        user.is_staff = user.is_superuser = role == Role.AGENCY_ADMIN
        user.first_name = "Demo"
        user.last_name = Role(role).label
        user.password = encoded
        user.save()
        users[username] = user
    return users


def demo_city_counts(*, agency: Agency) -> dict[str, int]:
    return {
        "zones": Zone.objects.filter(agency=agency).count(),
        "beats": Zone.objects.filter(agency=agency, kind=ZoneKind.BEAT).count(),
        "users": User.objects.filter(agency=agency).count(),
        "cameras": Camera.objects.filter(agency=agency).count(),
        "units": Unit.objects.filter(agency=agency).count(),
        "unit_positions": UnitPosition.objects.filter(unit__agency=agency).count(),
        "alpr_sites": AlprSite.objects.filter(agency=agency).count(),
        "hotlist_entries": HotlistEntry.objects.filter(hotlist__agency=agency).count(),
        "alpr_reads": AlprRead.objects.filter(agency=agency).count(),
        "hotlist_hits": AlprRead.objects.filter(agency=agency, hit__isnull=False).count(),
        "gunshots": GunshotDetection.objects.filter(agency=agency).count(),
        "alerts": Alert.objects.filter(agency=agency).count(),
        "incidents": Incident.objects.filter(agency=agency).count(),
        "open_incidents": Incident.objects.filter(agency=agency, status__in=OPEN_STATUSES).count(),
        "narrative_entries": NarrativeEntry.objects.filter(incident__agency=agency).count(),
    }


def demo_city_clear(*, agency: Agency) -> None:
    """Delete the demo agency's records. The agency row, its users and the audit trail stay:
    audit rows are append-only and point at both with PROTECT.
    """
    # Children before parents, so each child table goes in one DELETE; parents that still have
    # reverse relations are collected by the ORM, so fetch only their ids (not 20,000 geometries).
    Alert.objects.filter(agency=agency).delete()
    AlprRead.objects.filter(agency=agency).only("id").delete()
    HotlistEntry.objects.filter(hotlist__agency=agency).only("id").delete()
    Hotlist.objects.filter(agency=agency).only("id").delete()
    AlprSite.objects.filter(agency=agency).only("id").delete()
    GunshotDetection.objects.filter(agency=agency).only("id").delete()
    NarrativeEntry.objects.filter(incident__agency=agency).delete()
    Incident.assigned_units.through.objects.filter(incident__agency=agency).delete()
    Incident.objects.filter(agency=agency).only("id").delete()
    UnitPosition.objects.filter(unit__agency=agency).delete()
    Unit.objects.filter(agency=agency).only("id").delete()
    Camera.objects.filter(agency=agency).delete()
    Zone.objects.filter(agency=agency).only("id").delete()
    _clear_other_agency_records(agency)


def _clear_other_agency_records(agency: Agency) -> None:
    """Whatever else other apps keep per agency (feeds, saved views...), in an order that works.

    Models may protect each other; retry those that refuse until a pass deletes nothing more.
    """
    pending = []
    for model in apps.get_models():
        if model in (AuditEvent, User, Agency):
            continue
        for f in model._meta.get_fields():
            if f.many_to_one and f.concrete and f.related_model is Agency:
                pending.append((model, f.name))
    while pending:
        refused = []
        for model, name in pending:
            try:
                with transaction.atomic():
                    model._default_manager.filter(**{name: agency}).delete()
            except (ProtectedError, RestrictedError):
                refused.append((model, name))
        if len(refused) == len(pending):
            labels = ", ".join(m._meta.label for m, _ in refused)
            raise RuntimeError(f"cannot clear the demo agency: {labels} still referenced")
        pending = refused


class _Loader:
    """Turns the plans of one seed into rows. Methods run in a fixed order: the RNG stream depends on it."""

    def __init__(self, *, spec: city.CitySpec, agency: Agency, users: dict[str, User], seed: int):
        self.spec = spec
        self.agency = agency
        self.users = users
        self.rng = random.Random(seed)
        self.now = timezone.now()
        self.tz = ZoneInfo(spec.agency["time_zone"])
        self.acker = users.get("commander") or users.get("operator")
        # The RTCC's own work (ack outcomes, assist marks, camera looks) draws from its own stream, so
        # adding it left every other record of a seed as it was.
        self.work_rng = random.Random(f"{seed}:rtcc-work")

    def run(self, *, incidents: int) -> None:
        self.zones()
        self.cameras()
        open_calls = self.incidents(incidents)
        self.units(open_calls)
        self.alpr()
        self.gunshots()
        self.other_alerts()
        self.rtcc_work(open_calls)

    # zones -------------------------------------------------------------------------------------
    def zones(self) -> None:
        spec, agency = self.spec, self.agency
        city_zone = Zone.objects.create(
            agency=agency,
            kind=ZoneKind.CITY,
            code=spec.city["code"],
            name=spec.city["name"],
            geom=city.city_geometry(spec),
        )
        geoms = city.district_geometries(spec)
        districts = Zone.objects.bulk_create(
            Zone(
                agency=agency,
                kind=ZoneKind.DISTRICT,
                code=d.code,
                name=f"{d.name} district",
                parent=city_zone,
                geom=geoms[d.code],
            )
            for d in spec.districts
        )
        by_code = {z.code: z for z in districts}
        Zone.objects.bulk_create(
            Zone(
                agency=agency,
                kind=ZoneKind.BEAT,
                code=b.code,
                name=f"Beat {b.code}",
                parent=by_code[b.district],
                geom=b.geom,
            )
            for b in city.beat_geometries(spec, geoms)
        )

    # cameras -----------------------------------------------------------------------------------
    def cameras(self) -> None:
        rows = []
        # SVG snapshots, except that the first few online agency cameras play the HLS test pattern
        # scripts/demo.sh runs ffmpeg for (when this machine has ffmpeg).
        hls_slots = DEMO_HLS_CAMERAS if shutil.which("ffmpeg") else 0
        for p in city.plan_cameras(self.spec, self.rng):
            live = p.sharing == Sharing.LIVE
            kwargs = {"external_id": p.external_id}
            stream_kind, stream_url = "", ""
            if live and hls_slots and p.owner_kind == OwnerKind.AGENCY and p.status == CameraStatus.ONLINE:
                hls_slots -= 1
                stream_kind = StreamKind.HLS
                stream_url = reverse("demo:camera_hls", kwargs={**kwargs, "name": DEMO_HLS_PLAYLIST})
            elif live:
                stream_kind, stream_url = StreamKind.SNAPSHOT, reverse("demo:camera_snapshot", kwargs=kwargs)
            cam = Camera(
                agency=self.agency,
                name=p.name,
                external_id=p.external_id,
                owner_kind=p.owner_kind,
                owner_name=p.owner_name,
                owner_contact=p.owner_contact,
                location=_point(p.lon, p.lat),
                heading=p.heading,
                fov_angle=p.fov_angle,
                fov_range=p.fov_range,
                ptz=p.ptz,
                status=p.status,
                last_seen=self.now if p.status == CameraStatus.ONLINE else self.now - timedelta(hours=p.offline_for_h),
                sharing=p.sharing,
                stream_kind=stream_kind,
                stream_url=stream_url,
            )
            cam.refresh_view()  # bulk_create skips save(), which is where the view is normally derived
            rows.append(cam)
        Camera.objects.bulk_create(rows, batch_size=BATCH)

    # incidents ---------------------------------------------------------------------------------
    def incidents(self, count: int) -> list[tuple[city.IncidentPlan, Incident]]:
        """A year of closed calls plus the open ones of the last hour; returns the open (plan, row) pairs."""
        planner = city.IncidentPlanner(self.spec, self.rng, self.now)
        history = planner.historical(count)
        open_plans = planner.open()
        plans = history + open_plans
        city.number_incidents(plans, self.spec.agency["code"], self.tz)
        rows = [
            Incident(
                agency=self.agency,
                cad_number=p.cad_number,
                type_code=p.type.code,
                type_description=p.type.description,
                priority=p.type.priority,
                status=p.status,
                address=p.address,
                location=_point(p.lon, p.lat),
                received_at=p.received_at,
                dispatched_at=p.dispatched_at,
                on_scene_at=p.on_scene_at,
                closed_at=p.closed_at,
                source="demo-cad",
            )
            for p in plans
        ]
        Incident.objects.bulk_create(rows, batch_size=BATCH)
        NarrativeEntry.objects.bulk_create(
            (
                NarrativeEntry(incident_id=row.pk, entered_at=at, author=author, text=text)
                for p, row in zip(plans, rows, strict=True)
                for at, author, text in p.narrative
            ),
            batch_size=BATCH,
        )
        self._set_beats()
        return list(zip(open_plans, rows[len(history) :], strict=True))

    def _set_beats(self) -> None:
        """Every incident's beat in one statement: a spatial join beats 20,000 point lookups."""
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(Incident._meta.db_table)} AS i SET beat_id = z.id "
                f"FROM {qn(Zone._meta.db_table)} AS z "
                "WHERE i.agency_id = %s AND z.agency_id = %s AND z.kind = %s AND ST_Covers(z.geom, i.location)",
                [self.agency.id, self.agency.id, ZoneKind.BEAT],
            )

    # units -------------------------------------------------------------------------------------
    def units(self, open_calls: list[tuple[city.IncidentPlan, Incident]]) -> None:
        open_plans = [p for p, _ in open_calls]
        plans = city.assign_units(self.spec, self.rng, open_plans)
        city.plan_tracks(self.spec, self.rng, plans, open_plans, self.now)
        rows = []
        for p in plans:
            last = p.track[-1]
            rows.append(
                Unit(
                    agency=self.agency,
                    call_sign=p.call_sign,
                    kind=p.kind,
                    status=p.status,
                    last_location=_point(last.lon, last.lat),
                    last_heading=last.heading,
                    last_speed=last.speed,
                    last_seen=last.at,
                )
            )
        Unit.objects.bulk_create(rows)
        UnitPosition.objects.bulk_create(
            (
                UnitPosition(
                    unit=row,
                    location=_point(f.lon, f.lat),
                    heading=f.heading,
                    speed=f.speed,
                    recorded_at=f.at,
                    source="demo-avl",
                )
                for p, row in zip(plans, rows, strict=True)
                for f in p.track
            ),
            batch_size=BATCH,
        )
        by_sign = {row.call_sign: row for row in rows}
        through = Incident.assigned_units.through
        through.objects.bulk_create(
            through(incident_id=row.pk, unit_id=by_sign[cs].pk) for p, row in open_calls for cs in p.units
        )

    # ALPR --------------------------------------------------------------------------------------
    def alpr(self) -> None:
        plan = city.plan_alpr(self.spec, self.rng, self.now)
        cfg = self.spec.params["alpr"]["hotlist"]
        sites = AlprSite.objects.bulk_create(
            AlprSite(
                agency=self.agency,
                name=s.name,
                external_id=s.external_id,
                kind=s.kind,
                location=_point(s.lon, s.lat) if s.lon is not None else None,
                direction=s.direction,
            )
            for s in plan.sites
        )
        hotlist = Hotlist.objects.create(agency=self.agency, name=cfg["name"], source=cfg["source"])
        entries = HotlistEntry.objects.bulk_create(
            HotlistEntry(
                hotlist=hotlist,
                plate=normalize_plate(e.plate),
                state=e.state,
                reason=e.reason,
                expires_at=self.now + timedelta(days=e.expires_in_days) if e.expires_in_days else None,
            )
            for e in plan.entries
        )
        reads = AlprRead.objects.bulk_create(
            (
                AlprRead(
                    agency=self.agency,
                    plate=r.plate,
                    state=r.state,
                    read_at=r.read_at,
                    location=_point(r.lon, r.lat),
                    site=sites[r.site],
                    hit=entries[r.hit] if r.hit is not None else None,
                )
                for r in plan.reads
            ),
            batch_size=BATCH,
        )
        alerts = []
        for r, row in zip(plan.reads, reads, strict=True):
            if r.hit is None:
                continue
            entry, site = entries[r.hit], sites[r.site]
            local = r.read_at.astimezone(self.tz)
            alerts.append(
                self._alert(
                    kind=AlertKind.HOTLIST_HIT,
                    title=f"Hotlist hit: {entry.plate} ({entry.reason})",
                    detail=f"{entry.state} plate {entry.plate} read by {site.name} at {local:%H:%M:%S}; "
                    f"on hotlist {hotlist.name}.",
                    lon=r.lon,
                    lat=r.lat,
                    raised_at=r.read_at,
                    alpr_read=row,
                    acknowledged=r.read_at < self.now - timedelta(hours=2),
                )
            )
        Alert.objects.bulk_create(alerts)

    # gunshots ----------------------------------------------------------------------------------
    def gunshots(self) -> None:
        plans = city.plan_gunshots(self.spec, self.rng, self.now)
        rows = GunshotDetection.objects.bulk_create(
            GunshotDetection(
                agency=self.agency,
                location=_point(g.lon, g.lat),
                detected_at=g.detected_at,
                rounds=g.rounds,
                confidence=g.confidence,
                source="demo-acoustic",
                source_id=g.source_id,
            )
            for g in plans
        )
        addresser = city.Addresser(self.spec)
        recent = [(g, row) for g, row in zip(plans, rows, strict=True) if g.detected_at >= self.now - timedelta(days=1)]
        alerts = []
        for k, (g, row) in enumerate(recent):
            hood = addresser.nearest(g.lon, g.lat).name
            alerts.append(
                self._alert(
                    kind=AlertKind.GUNSHOT,
                    title=f"Gunshot detected: {g.rounds} round{'s' if g.rounds != 1 else ''} near {hood}",
                    detail=f"Acoustic sensors located {g.rounds} rounds, confidence {g.confidence:.0%} "
                    f"(detection {g.source_id}).",
                    lon=g.lon,
                    lat=g.lat,
                    raised_at=g.detected_at,
                    gunshot=row,
                    acknowledged=k < len(recent) - 1,  # the latest one is still waiting for an operator
                )
            )
        Alert.objects.bulk_create(alerts)

    def other_alerts(self) -> None:
        Alert.objects.bulk_create(
            self._alert(
                kind=a["kind"],
                title=a["title"],
                detail="Simulated alert from the demo city.",
                lon=a["at"][0],
                lat=a["at"][1],
                raised_at=self.now - timedelta(minutes=a["minutes_ago"]),
                acknowledged=a["acknowledged"],
            )
            for a in self.spec.params["other_alerts"]
        )

    def _alert(
        self,
        *,
        kind: str,
        title: str,
        detail: str,
        lon: float,
        lat: float,
        raised_at: datetime,
        acknowledged: bool,
        **links,
    ) -> Alert:
        alert = Alert(
            agency=self.agency,
            kind=kind,
            title=title[:200],
            detail=detail,
            location=_point(lon, lat),
            raised_at=raised_at,
            **links,
        )
        if acknowledged and self.acker is not None:
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_by = self.acker
            alert.acknowledged_at = min(self.now, raised_at + timedelta(minutes=self.rng.uniform(1, 9)))
            alert.ack_note = self.rng.choice(ACK_NOTES)
            if kind == AlertKind.HOTLIST_HIT:
                alert.ack_outcome = self.work_rng.choices(HIT_OUTCOMES, weights=(50, 35, 15))[0]
        return alert

    # the center's work on the open calls ---------------------------------------------------------
    def rtcc_work(self, open_calls: list[tuple[city.IncidentPlan, Incident]]) -> None:
        """Camera looks and assist marks on some open calls, through the services an operator's clicks
        use (audited the same way), so the measures dashboard has figures on a fresh demo."""
        operator = self.users.get("operator")
        if operator is None:
            return
        kinds = [k for k in AssistKind if k != AssistKind.OTHER]
        for _plan, incident in open_calls:
            # What the panel's "Open" buttons offer: live, not offline, nearest first.
            live = [
                r["camera"]["id"]
                for r in cameras_seeing_point(user=operator, point=incident.location)
                if r["camera"]["sharing"] == Sharing.LIVE and r["camera"]["status"] != CameraStatus.OFFLINE
            ]
            for camera in Camera.objects.filter(pk__in=live[: self.work_rng.randint(0, 2)]):
                camera_stream_open(camera=camera, user=operator, incident_id=incident.pk)
            if self.work_rng.random() < 0.5:
                incident_assist_create(incident=incident, user=operator, kind=self.work_rng.choice(kinds))
