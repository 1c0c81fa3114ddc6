from django.apps import AppConfig


class LiveConfig(AppConfig):
    """Live map updates: publish on commit, fan out over Channels, replay from a Redis stream."""

    name = "apps.live"
    label = "live"
    verbose_name = "Live updates"

    def ready(self) -> None:
        # The domain services publish through apps.core.publish (they sit below this app); this is
        # the delivery behind it.
        from apps.core import publish as door

        from .publish import publish, publish_reload

        door.install(door.Publisher(publish=publish, publish_reload=publish_reload))
