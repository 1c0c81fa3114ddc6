from django.apps import AppConfig


class AlprConfig(AppConfig):
    name = "apps.alpr"
    label = "alpr"
