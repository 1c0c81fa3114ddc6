from django.urls import path

from .views import IncidentAssistViewSet, MeasuresViewSet

urlpatterns = [
    path(
        "incidents/<int:pk>/assists/",
        IncidentAssistViewSet.as_view({"get": "list", "post": "create"}),
        name="incident-assists",
    ),
    path("measures/", MeasuresViewSet.as_view({"get": "summary"}), name="measures"),
    # A file name, not a collection, so no trailing slash (and no redirect for clients to follow).
    path("measures/export.csv", MeasuresViewSet.as_view({"get": "export"}), name="measures-export"),
]
