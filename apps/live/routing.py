"""WebSocket routes of the live app (mounted by rtcc_gis.asgi)."""

from django.urls import path

from .consumer import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]
