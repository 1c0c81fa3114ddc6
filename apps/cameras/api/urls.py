from rest_framework.routers import SimpleRouter

from .views import CameraViewSet

router = SimpleRouter()
router.register("cameras", CameraViewSet, basename="camera")
urlpatterns = router.urls
