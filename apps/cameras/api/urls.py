from django.urls import path
from rest_framework.routers import SimpleRouter

from .proxy import StreamEntryView, StreamPartView
from .views import CameraViewSet

router = SimpleRouter()
router.register("cameras", CameraViewSet, basename="camera")
urlpatterns = [
    *router.urls,
    path("streams/<str:token>/<str:name>", StreamEntryView.as_view(), name="camera-stream"),
    path("streams/<str:token>/part/<str:part>", StreamPartView.as_view(), name="camera-stream-part"),
]
