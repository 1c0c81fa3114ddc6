from rest_framework.routers import SimpleRouter

from .views import AlprReadViewSet, AlprSiteViewSet

router = SimpleRouter()
router.register("alpr/sites", AlprSiteViewSet, basename="alpr-site")
router.register("alpr/reads", AlprReadViewSet, basename="alpr-read")
urlpatterns = router.urls
