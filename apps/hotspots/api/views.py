from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.core.params import parse_id

from ..choices import RunKind
from ..selectors import hotspot_runs
from ..services import hotspot_run_request
from .serializers import RunDetailSerializer, RunRequestSerializer, RunSerializer


class RunPagination(PageNumberPagination):
    page_size = 50


class HotspotRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Hotspot runs of the user's agency: ask for one (POST, 202 while it computes; an identical
    recent run is reused; 503 naming the broker when the task cannot be queued, the run then being
    marked failed), poll it, read its GeoJSON."""

    pagination_class = RunPagination
    required_perms = {"list": Perm.VIEW_ANALYTICS, "retrieve": Perm.VIEW_ANALYTICS, "create": Perm.VIEW_ANALYTICS}

    def get_queryset(self):
        qs = hotspot_runs(user=self.request.user)
        if self.action == "list":
            kind = self.request.query_params.get("kind")
            if kind:
                if kind not in RunKind.values:
                    known = ", ".join(RunKind.values)
                    raise exceptions.ValidationError({"kind": f"unknown kind {kind!r}; use {known}"})
                qs = qs.filter(kind=kind)
            qs = qs.defer("result")
        return qs

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer

    def get_object(self):
        if parse_id(self.kwargs.get("pk", "")) is None:
            raise exceptions.NotFound("not a valid run id")
        return super().get_object()

    @extend_schema(
        request=RunRequestSerializer,
        responses={202: RunSerializer, 200: RunDetailSerializer, 503: OpenApiResponse(description="task broker down")},
    )
    def create(self, request):
        body = RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if request.user.agency is None:
            raise exceptions.ValidationError({"agency": "runs are per agency and this user has none"})
        try:
            run, created = hotspot_run_request(
                agency=request.user.agency,
                kind=body.validated_data["kind"],
                raw_params=body.validated_data["params"],
                user=request.user,
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        if run.status == "done":
            data = {**RunDetailSerializer(run).data, "reused": True}
            return Response(data, status=status.HTTP_200_OK)
        data = {**RunSerializer(run).data, "reused": not created}
        return Response(data, status=status.HTTP_202_ACCEPTED)
