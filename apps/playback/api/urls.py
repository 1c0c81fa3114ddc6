from django.urls import path

from .views import PlaybackViewSet

urlpatterns = [
    path("playback/", PlaybackViewSet.as_view({"get": "replay"}), name="playback"),
    path("playback/state/", PlaybackViewSet.as_view({"get": "state"}), name="playback-state"),
]
