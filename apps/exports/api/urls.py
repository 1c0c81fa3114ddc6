from django.urls import path

from .ogc import OgcViewSet
from .views import ExportViewSet

# File names and OGC API paths, not router collections: no trailing slashes (clients do not follow
# a redirect for them), except the OGC landing page, which is a directory.
urlpatterns = [
    path("exports/<str:layer>.<str:fmt>", ExportViewSet.as_view({"get": "export"}), name="layer-export"),
    path("ogc/", OgcViewSet.as_view({"get": "landing"}), name="ogc-landing"),
    path("ogc/conformance", OgcViewSet.as_view({"get": "conformance"}), name="ogc-conformance"),
    path("ogc/collections", OgcViewSet.as_view({"get": "collections"}), name="ogc-collections"),
    path("ogc/collections/<str:collection_id>", OgcViewSet.as_view({"get": "collection"}), name="ogc-collection"),
    path("ogc/collections/<str:collection_id>/items", OgcViewSet.as_view({"get": "items"}), name="ogc-items"),
    path(
        "ogc/collections/<str:collection_id>/items/<str:fid>",
        OgcViewSet.as_view({"get": "item"}),
        name="ogc-item",
    ),
]
