from rest_framework.routers import SimpleRouter

from .views import AlertViewSet, GunshotViewSet

router = SimpleRouter()
router.register("gunshots", GunshotViewSet, basename="gunshot")
router.register("alerts", AlertViewSet, basename="alert")
urlpatterns = router.urls
