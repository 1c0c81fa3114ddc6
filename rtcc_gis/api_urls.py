"""Every API route. Each domain app owns its own router; this file only gathers them."""

from django.urls import include, path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.health import health_check


class HealthView(APIView):
    """Database (PostGIS) and Redis reachability."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OpenApiResponse(description="all parts ok"), 503: OpenApiResponse()})
    def get(self, request):
        result = health_check()
        return Response(result, status=200 if result["ok"] else 503)


urlpatterns = [
    path("", include("apps.incidents.api.urls")),
    path("", include("apps.cameras.api.urls")),
    path("", include("apps.units.api.urls")),
    path("", include("apps.alpr.api.urls")),
    path("", include("apps.sensors.api.urls")),
    path("", include("apps.zones.api.urls")),
    path("", include("apps.audit.api.urls")),
    path("", include("apps.feeds.api.urls")),
    path("", include("apps.search.api.urls")),
    path("", include("apps.tiles.api.urls")),
    path("", include("apps.hotspots.api.urls")),
    path("", include("apps.measures.api.urls")),
    path("", include("apps.exports.api.urls")),
    path("", include("apps.playback.api.urls")),
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]
