"""The door every write takes to the maps: `publish()` and `publish_reload()`, on the ground floor.

The domain apps (incidents, units, cameras, alpr, sensors) write inside their services and must tell the
live maps; the live app sits above them (it serializes their records with their REST serializers and
serves the socket), so they cannot import it. They call these two functions, and apps.live installs its
delivery here when Django starts (`LiveConfig.ready()`): apps.live.publish says what happens then (the
event is serialized now and sent on commit). The arguments and the return value are apps.live's.

A publish with no delivery installed raises `NoPublisher` rather than doing nothing: a write that
silently reached no map would be a bug nobody sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, QuerySet


class NoPublisher(RuntimeError):
    """`publish()` was called in a process where no app installed a delivery (apps.live is not installed)."""


@dataclass(frozen=True)
class Publisher:
    """The delivery one app installs: the two functions, with `publish()`'s and `publish_reload()`'s arguments."""

    publish: Callable[..., Any]
    publish_reload: Callable[..., Any]


_installed: Publisher | None = None


def install(publisher: Publisher | None) -> Publisher | None:
    """Make `publisher` the delivery (None: none); returns the one it replaces."""
    global _installed
    previous, _installed = _installed, publisher
    return previous


def installed() -> Publisher:
    if _installed is None:
        raise NoPublisher("no live delivery is installed: add apps.live to INSTALLED_APPS (it installs itself)")
    return _installed


def publish(
    *,
    layer: str,
    instance: Model | None = None,
    removed_id: int | None = None,
    agency_id: int | None = None,
    event: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> dict[str, Any] | None:
    """Publish a change of one feature (`instance`) or its removal (`removed_id` + `agency_id`) to every map
    that may see it, once the caller's transaction commits. See apps.live.publish.publish."""
    return installed().publish(
        layer=layer, instance=instance, removed_id=removed_id, agency_id=agency_id, event=event, using=using
    )


def publish_reload(*, layer: str, agency_id: int, using: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    """Publish that many features of an agency's layer changed at once (one `layer.reloaded` event).
    See apps.live.publish.publish_reload."""
    return installed().publish_reload(layer=layer, agency_id=agency_id, using=using)


def delete_published(*, layer: str, queryset: QuerySet) -> int:
    """Delete these rows of a live layer (each has an `agency_id`) and take each off its agency's maps, once
    the caller's transaction commits; returns how many were deleted."""
    gone = list(queryset.values_list("pk", "agency_id"))
    queryset.model._default_manager.filter(pk__in=[pk for pk, _ in gone]).delete()
    for pk, agency_id in gone:
        publish(layer=layer, removed_id=pk, agency_id=agency_id)
    return len(gone)
