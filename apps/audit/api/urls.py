from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import AuditEventViewSet

router = SimpleRouter()
router.register("audit", AuditEventViewSet, basename="audit-event")
urlpatterns = [
    # A file name, not a collection, so no trailing slash (and no redirect for clients to follow).
    path("audit/export.csv", AuditEventViewSet.as_view({"get": "export"}), name="audit-event-export"),
    *router.urls,
]
