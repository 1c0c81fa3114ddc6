from django.apps import AppConfig


class PlaybackConfig(AppConfig):
    name = "apps.playback"
    label = "playback"
