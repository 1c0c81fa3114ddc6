from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("rtcc_gis.api_urls")),
    path("measures/", include("apps.measures.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.console.urls")),
]

# The demo's simulated cameras (apps/demo/views.py) exist only with RTCC_DEMO=1 (rtcc_gis/settings.py).
if settings.RTCC_DEMO:
    urlpatterns.append(path("demo/", include("apps.demo.urls")))
