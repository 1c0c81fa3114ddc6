from django.apps import AppConfig


class HotspotsConfig(AppConfig):
    name = "apps.hotspots"
    label = "hotspots"
