"""Live-update settings, read at call time so tests (and `override_settings`) can change them.

Every value has a default here so the app works before the project settings name it; production
sets them from the environment in rtcc_gis/settings.py.
"""

from __future__ import annotations

from django.conf import settings


def redis_url() -> str:
    return settings.REDIS_URL


def key_prefix() -> str:
    """Prefix of the replay stream keys. Defaults to sit next to the channel layer's own keys, so one
    CHANNELS_PREFIX separates two deployments (or two parallel test runs) sharing a Redis."""
    explicit = getattr(settings, "RTCC_LIVE_KEY_PREFIX", "")
    if explicit:
        return explicit
    layer_prefix = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {}).get("prefix", "rtcc")
    return f"{layer_prefix}:live"


def replay_max() -> int:
    """How many messages each feed's stream keeps (approximately) for reconnecting clients."""
    return int(getattr(settings, "RTCC_LIVE_REPLAY_MAX", 10_000))


def coalesce_seconds() -> float:
    """How long unit positions are gathered before the latest one per unit goes out."""
    return int(getattr(settings, "RTCC_LIVE_COALESCE_MS", 200)) / 1000.0


def access_ttl_seconds() -> float:
    """How long a consumer trusts its last read of the user's access before re-reading the DB."""
    return float(getattr(settings, "RTCC_LIVE_ACCESS_TTL", 5))


def catch_up_seconds() -> float:
    """How often an idle consumer compares its cursor with the stream head (a lost group message
    is then recovered from the stream within this time even if nothing else is published)."""
    return float(getattr(settings, "RTCC_LIVE_CATCH_UP_SECONDS", 5))
