"""One route per registered tile layer: /api/tiles/<layer>/<z>/<x>/<y>.mvt (an unknown layer is a 404)."""

from django.urls import path

from ..layers import TILE_LAYERS
from .views import TileViewSet

urlpatterns = [
    path(
        f"tiles/{name}/<int:z>/<int:x>/<int:y>.mvt",
        TileViewSet.as_view({"get": "tile"}, layer=name),
        name=f"tile-{name}",
    )
    for name in TILE_LAYERS
]
