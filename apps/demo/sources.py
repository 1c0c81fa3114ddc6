"""The demo city's feed sources and what the live simulator starts from.

`demo_sources_ensure` creates (or repairs) one FeedSource per simulated stream for agency DEMO, the way an
administrator would configure real ones; `demo_tokens_issue` gives each push source a fresh token at every
simulator start, handed back in memory only (the database keeps the hash). `demo_world_load` reads the
loaded city (units and where they are, fixed ALPR readers, the active hotlist, open incidents, the CAD
counter): the simulator reads the city once at start, and everything it changes afterwards goes through
the feed endpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Agency
from apps.alpr.choices import SiteKind
from apps.alpr.models import AlprSite, HotlistEntry
from apps.feeds.choices import FeedMode
from apps.feeds.models import FeedSource
from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Incident
from apps.units.choices import UnitIdMode
from apps.units.models import Unit

from .city import CitySpec
from .simulator import OpenCall, SiteInfo, Stream, UnitInfo, World


@dataclass(frozen=True)
class SourcePlan:
    name: str
    kind: str
    mode: str
    expected_interval: int  # seconds of silence before the feed-health page flags it


DEMO_SOURCES: dict[Stream, SourcePlan] = {
    Stream.CAD: SourcePlan("Demo CAD", "cad_json", FeedMode.PUSH, 600),
    Stream.OSMAND: SourcePlan("Demo AVL (OsmAnd)", "osmand", FeedMode.PUSH, 120),
    Stream.COT: SourcePlan("Demo AVL (CoT)", "cot", FeedMode.LISTEN, 300),
    Stream.ALPR: SourcePlan("Demo ALPR", "alpr_json", FeedMode.PUSH, 120),
    # Bursts and alarms come every 5-12 minutes: silence is only suspicious after several missed ones.
    Stream.GUNSHOT: SourcePlan("Demo gunshots", "gunshot_json", FeedMode.PUSH, 3600),
    Stream.CAP: SourcePlan("Demo alarms (CAP)", "cap", FeedMode.PUSH, 3600),
}


def demo_agency(spec: CitySpec) -> Agency | None:
    return Agency.objects.filter(code=spec.agency["code"]).first()


@transaction.atomic
def demo_sources_ensure(*, agency: Agency) -> dict[Stream, FeedSource]:
    """One enabled source per simulated stream, with the kind and mode the simulator sends in.

    Units are never created from a fix (`auto_create_units` off): the simulator only drives units the
    loader made, so an unknown call sign is a bug to see in the rejection counts, not a new unit.
    """
    sources: dict[Stream, FeedSource] = {}
    for stream, plan in DEMO_SOURCES.items():
        source, _ = FeedSource.objects.select_for_update().get_or_create(
            agency=agency,
            name=plan.name,
            defaults={"kind": plan.kind, "mode": plan.mode, "expected_interval": plan.expected_interval},
        )
        wanted = {
            "kind": plan.kind,
            "mode": plan.mode,
            "enabled": True,
            "auto_create_units": False,
            "unit_ids": UnitIdMode.CALL_SIGN,  # the simulator's units report by their call signs
            "expected_interval": plan.expected_interval,
        }
        changed = [name for name, value in wanted.items() if getattr(source, name) != value]
        if changed:
            for name in changed:
                setattr(source, name, wanted[name])
            source.save(update_fields=[*changed, "updated_at"])
        sources[stream] = source
    return sources


def demo_tokens_issue(*, sources: dict[Stream, FeedSource]) -> dict[Stream, str]:
    """A fresh token for every push source (the previous ones stop working), returned only to the caller."""
    return {stream: source.issue_token() for stream, source in sources.items() if source.mode == FeedMode.PUSH}


def demo_world_load(*, agency: Agency, spec: CitySpec) -> World:
    """The state of the loaded city the simulator continues from."""
    plan = {u["call_sign"]: u for u in spec.params["units"]}
    units = []
    # Only the units of the call-sign plan: a unit someone added by hand is not the simulator's to drive.
    for unit in Unit.objects.filter(agency=agency, active=True, call_sign__in=list(plan)).order_by("call_sign"):
        loc = unit.last_location
        units.append(
            UnitInfo(
                call_sign=unit.call_sign,
                kind=unit.kind,
                district=plan[unit.call_sign]["district"],
                status=unit.status,
                lon=loc.x if loc is not None else None,
                lat=loc.y if loc is not None else None,
            )
        )
    sites = tuple(
        SiteInfo(s.external_id, s.name, s.location.x, s.location.y)
        for s in AlprSite.objects.filter(agency=agency, kind=SiteKind.FIXED, location__isnull=False)
        .exclude(external_id="")
        .order_by("external_id")
    )
    now = timezone.now()
    hotlist = tuple(
        HotlistEntry.objects.filter(hotlist__agency=agency, hotlist__active=True, active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("plate")
        .values_list("plate", "state")
    )
    open_calls = tuple(
        OpenCall(
            cad_number=i.cad_number,
            type_code=i.type_code,
            description=i.type_description,
            priority=i.priority,
            status=i.status,
            address=i.address,
            lon=i.location.x,
            lat=i.location.y,
            received_at=i.received_at,
            dispatched_at=i.dispatched_at,
            on_scene_at=i.on_scene_at,
            units=tuple(sorted(u.call_sign for u in i.assigned_units.all())),
        )
        for i in Incident.objects.filter(agency=agency, status__in=OPEN_STATUSES)
        .prefetch_related("assigned_units")
        .order_by("received_at")
    )
    prefix = spec.agency["code"]
    year = now.astimezone(ZoneInfo(spec.agency["time_zone"])).year
    # The CAD counter runs on from the highest number of the year (zero-padded, so text order is number order).
    last = (
        Incident.objects.filter(agency=agency, cad_number__regex=rf"^{re.escape(prefix)}-{year}-[0-9]{{6}}$")
        .order_by("-cad_number")
        .values_list("cad_number", flat=True)
        .first()
    )
    next_cad = {year: int(last.rsplit("-", 1)[1]) + 1 if last else 1}
    return World(
        units=tuple(units), sites=sites, hotlist=hotlist, open_calls=open_calls, cad_prefix=prefix, next_cad=next_cad
    )
