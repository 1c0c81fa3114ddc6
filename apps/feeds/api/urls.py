from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import FeedPushView, FeedSourceViewSet, OsmAndPathView, OsmAndView

router = SimpleRouter()
router.register("feeds", FeedSourceViewSet, basename="feed-source")
# Explicit paths first: the router's detail route would otherwise take "push" for an id.
urlpatterns = [
    path("feeds/push/", FeedPushView.as_view(), name="feed-push"),
    path("feeds/osmand/", OsmAndView.as_view(), name="feed-osmand-header"),
    path("feeds/osmand/<str:token>/", OsmAndPathView.as_view(), name="feed-osmand"),
    *router.urls,
]
