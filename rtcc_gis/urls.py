from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("rtcc_gis.api_urls")),
    path("demo/", include("apps.demo.urls")),
    path("measures/", include("apps.measures.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.console.urls")),
]
