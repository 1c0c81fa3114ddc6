from rest_framework.routers import SimpleRouter

from .views import HotspotRunViewSet

router = SimpleRouter()
router.register("hotspots/runs", HotspotRunViewSet, basename="hotspot-run")
urlpatterns = router.urls
