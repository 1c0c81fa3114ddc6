"""Live subscriptions that are sensitive looks (a layer declaring `look`, apps.live.layers) go on record."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from .layers import LAYERS


def subscription_looks_record(*, user_id: int, layers: list[str], scope: dict[str, Any]) -> int:
    """Record the looks of the granted `layers` for the user (throttled per user and layer, as the map
    re-subscribes on every reconnect); returns how many events were written."""
    reads = [look for name in layers if (look := LAYERS[name].look) is not None]
    if not reads:
        return 0
    user = get_user_model().objects.get(pk=user_id)
    client = scope.get("client") or (None, None)
    written = 0
    for read in reads:
        detail = {"via": "live", "layers": layers, "throttle_seconds": read.throttle_seconds}
        written += read.watch(user=user, ip=client[0]).record(throttle_key=str(user_id), detail=detail) is not None
    return written
