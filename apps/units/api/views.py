from apps.core.api import LayerViewSet

from ..choices import UnitStatus
from ..selectors import unit_list
from .serializers import UnitSerializer


class UnitViewSet(LayerViewSet):
    """Units at their latest position (units never located are left out of the list)."""

    serializer_class = UnitSerializer
    bbox_field = "last_location"
    time_field = "last_seen"
    status_field = "status"
    status_choices = UnitStatus

    def selector(self, user):
        qs = unit_list(user=user)
        if self.action == "list":
            qs = qs.filter(last_location__isnull=False)
        return qs
