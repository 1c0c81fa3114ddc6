from django.apps import AppConfig


class TilesConfig(AppConfig):
    name = "apps.tiles"
    label = "tiles"
