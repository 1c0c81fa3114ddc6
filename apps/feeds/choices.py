from django.db import models


class FeedMode(models.TextChoices):
    PUSH = "push", "Pushed to our endpoint (token)"
    POLL = "poll", "Polled from a URL (Celery beat)"
    LISTEN = "listen", "Received by a network listener (TCP/UDP)"


class FeedHealth(models.TextChoices):
    """A source's health, computed from what it last received (FeedSource.health)."""

    HEALTHY = "healthy", "Healthy"
    STALE = "stale", "Stale (silent for longer than expected)"
    FAILING = "failing", "Failing (its last payload or poll failed)"
    MISCONFIGURED = "misconfigured", "Misconfigured (it sends the wrong kind of data)"
    DISABLED = "disabled", "Disabled"
