from django.apps import AppConfig


class LiveConfig(AppConfig):
    """Live map updates: publish on commit, fan out over Channels, replay from a Redis stream."""

    name = "apps.live"
    label = "live"
    verbose_name = "Live updates"
