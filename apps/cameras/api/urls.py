from django.urls import path
from rest_framework.routers import SimpleRouter

from .proxy import stream_entry, stream_part
from .views import CameraViewSet

router = SimpleRouter()
router.register("cameras", CameraViewSet, basename="camera")
urlpatterns = [
    *router.urls,
    path("streams/<str:token>/<str:name>", stream_entry, name="camera-stream"),
    path("streams/<str:token>/part/<str:part>", stream_part, name="camera-stream-part"),
]
