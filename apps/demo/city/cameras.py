"""Camera plans: the city's own, partner and registered private cameras along corridors and at hotspots."""

from __future__ import annotations

import random
from dataclasses import dataclass

from apps.cameras.choices import CameraStatus, OwnerKind, Sharing

from .incidents import Addresser
from .sampling import Sampler
from .spec import CitySpec


@dataclass
class CameraPlan:
    external_id: str
    name: str
    owner_kind: str
    owner_name: str
    owner_contact: str
    lon: float
    lat: float
    heading: float | None
    fov_angle: float
    fov_range: float
    ptz: bool
    status: str
    sharing: str
    offline_for_h: float = 0.0


def plan_cameras(spec: CitySpec, rng: random.Random) -> list[CameraPlan]:
    """Agency, partner and community cameras: clustered at hotspots and along arterials."""
    cfg = spec.params["cameras"]
    sampler = Sampler(spec, rng)
    addresser = Addresser(spec)
    count = int(cfg["count"])
    mix = cfg["owner_mix"]
    kinds = [OwnerKind.AGENCY] * round(count * mix["agency"]) + [OwnerKind.PARTNER] * round(count * mix["partner"])
    kinds += [OwnerKind.COMMUNITY] * (count - len(kinds))
    names: dict[str, int] = {}
    plans = []

    def unique(base: str) -> str:
        names[base] = names.get(base, 0) + 1
        return f"{base} {names[base]:02d}"

    for i, kind in enumerate(kinds, start=1):
        heading: float | None = rng.uniform(0, 360)
        fov = rng.uniform(*cfg["fov_deg"])
        ptz = False
        sharing = Sharing.LIVE
        contact = ""
        if kind == OwnerKind.AGENCY:
            owner = spec.agency["name"]
            contact = "RTCC video desk"
            if rng.random() < 0.45:
                corridor, lon, lat, road = sampler.along_corridor()
                heading = (road + rng.choice((0, 180)) + rng.gauss(0, 20)) % 360
                place = corridor.name
            else:
                h = sampler.hotspot()
                lon, lat = sampler.near(h.lon, h.lat, h.spread_m * 0.6)
                place = addresser.nearest(lon, lat).name
            ptz = rng.random() < cfg["agency_ptz_share"]
            name = unique(f"SPD {'PTZ' if ptz else 'CCTV'} {place}")
        elif kind == OwnerKind.PARTNER:
            contact = f"+1-206-555-01{rng.randrange(100):02d}"
            if rng.random() < cfg["partner_traffic_share"]:
                owner = cfg["traffic_owner"]
                corridor, lon, lat, road = sampler.along_corridor(jitter_m=8)
                heading = (road + rng.choice((0, 180)) + rng.gauss(0, 10)) % 360
                name = unique(f"SDOT traffic {corridor.name}")
            else:
                business = rng.choice(cfg["business_owners"])
                owner = business["name"]
                lon, lat = sampler.near(*business["at"], business["spread_m"])
                name = unique(f"{owner.removesuffix(' (demo)')} - {addresser.nearest(lon, lat).name}")
            if rng.random() < cfg["partner_on_request_share"]:
                sharing = Sharing.ON_REQUEST
        else:
            if rng.random() < 0.6:
                lon, lat = sampler.uniform()
            else:
                h = sampler.hotspot()
                lon, lat = sampler.near(h.lon, h.lat, h.spread_m * 1.2)
            owner = "Registered resident (demo)" if rng.random() < 0.7 else "Registered business (demo)"
            name = unique(f"Community registry {addresser.nearest(lon, lat).name}")
            sharing = Sharing.LIVE if rng.random() < cfg["community_live_share"] else Sharing.ON_REQUEST
        if ptz:
            heading, fov, reach = None, 360.0, rng.uniform(80, cfg["range_m"][1])
        else:
            reach = rng.uniform(*cfg["range_m"])
        roll = rng.random()
        if roll < cfg["offline_share"]:
            status = CameraStatus.OFFLINE
        elif roll < cfg["offline_share"] + cfg["unknown_share"]:
            status = CameraStatus.UNKNOWN
        else:
            status = CameraStatus.ONLINE
        plans.append(
            CameraPlan(
                external_id=f"DEMO-CAM-{i:04d}",
                name=name,
                owner_kind=kind,
                owner_name=owner,
                owner_contact=contact,
                lon=lon,
                lat=lat,
                heading=None if heading is None else round(heading, 1),
                fov_angle=round(fov),
                fov_range=round(reach),
                ptz=ptz,
                status=status,
                sharing=sharing,
                offline_for_h=rng.uniform(1, 72),
            )
        )
    return plans
