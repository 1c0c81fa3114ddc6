"""The floors (README, Layout): every app is on one, the domain writes reach the maps through the ground
floor's door (apps.core.publish) that apps.live fills in, and the core's layer base grants nothing itself.

`make lint` runs the contract itself (lint-imports); these tests keep what the contract cannot see.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIRequestFactory, force_authenticate

from apps.core import publish as door
from apps.core.api import LayerViewSet
from apps.live import publish as live_publish
from apps.units.services import unit_set_status
from apps.zones.api.serializers import ZoneSerializer
from apps.zones.api.views import ZoneViewSet
from apps.zones.selectors import zone_list

from . import factories as f

ROOT = Path(__file__).resolve().parent.parent


def _floors() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["name"].startswith("Floors")]
    return [[name.strip() for name in re.split(r"[:|]", layer)] for layer in contract["layers"]]


def test_every_app_is_on_exactly_one_floor_and_the_core_alone_at_the_bottom():
    on_floors = [name for floor in _floors() for name in floor]
    assert len(on_floors) == len(set(on_floors)), "an app is on two floors"
    packages = {f"apps.{p.parent.name}" for p in (ROOT / "apps").glob("*/apps.py")}
    installed = {name for name in settings.INSTALLED_APPS if name.startswith("apps.")}
    # An app left off the contract would be free to import anything: put it on its floor in pyproject.toml.
    assert packages | installed == set(on_floors)
    assert _floors()[-1] == ["apps.core"]
    assert _floors()[0] == ["apps.console"]


def test_the_live_app_is_the_delivery_behind_the_door():
    assert door.installed().publish is live_publish.publish
    assert door.installed().publish_reload is live_publish.publish_reload


@pytest.mark.django_db
def test_a_domain_write_reaches_the_live_delivery_through_the_door(home):
    unit = f.unit(agency=home)
    real = door.installed()
    seen: list[dict] = []

    def recording(**kwargs):
        seen.append(kwargs)
        return real.publish(**kwargs)

    door.install(door.Publisher(publish=recording, publish_reload=real.publish_reload))
    try:
        unit_set_status(unit=unit, status="dispatched")
    finally:
        door.install(real)
    assert [(call["layer"], call["instance"].pk) for call in seen] == [("units", unit.pk)]


@pytest.mark.django_db
def test_a_write_with_no_delivery_installed_says_so_instead_of_reaching_no_map(home):
    unit = f.unit(agency=home)
    previous = door.install(None)
    try:
        with pytest.raises(door.NoPublisher, match="apps.live"):
            unit_set_status(unit=unit, status="dispatched")
        with pytest.raises(door.NoPublisher):
            door.publish_reload(layer="units", agency_id=home.pk)
    finally:
        door.install(previous)


class _UndeclaredZones(LayerViewSet):
    """A layer view that forgot its permissions: the core's base declares none (it knows no permission)."""

    serializer_class = ZoneSerializer
    bbox_field = "geom"

    def selector(self, user):
        return zone_list(user=user)


@pytest.mark.django_db
def test_a_layer_view_without_declared_permissions_is_closed(operator):
    f.zone(agency=operator.agency)

    def get(view_class):
        request = APIRequestFactory().get("/api/zones/")
        force_authenticate(request, user=operator)
        return view_class.as_view({"get": "list"})(request)

    assert get(ZoneViewSet).status_code == 200  # the real layer declares VIEW_LAYERS, which an operator has
    assert get(_UndeclaredZones).status_code == 403
