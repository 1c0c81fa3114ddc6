"""Feed endpoints: push (per-source token), the OsmAnd/Traccar protocol, and feed health."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Perm
from apps.core.params import parse_id

from ..adapters.base import PayloadError
from ..selectors import dead_letter_list, feed_source_list
from ..services import FeedUnavailable, feed_ingest, feed_source_for_token
from .serializers import DeadLetterSerializer, FeedSourceSerializer


class RawParser(BaseParser):
    """Leave the body as bytes: the source's adapter decides what it is."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


# The token as a query or form parameter, for clients that cannot set headers. Taken out of the
# parameters before the adapter sees them, so it never lands in a dead letter's excerpt.
TOKEN_PARAM = "token"


def _bearer(request) -> str:
    """The source token from `Authorization: Bearer <token>` (or `Token <token>`) or `X-Feed-Token`."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and token.strip():
        return token.strip()
    return request.META.get("HTTP_X_FEED_TOKEN", "").strip()


class _IngestView(APIView):
    """Shared by the push endpoints: size cap, token to source, ingest, report."""

    # A fix whose query carries a NUL is a bad record: kept as a dead letter, not refused whole.
    query_nul_is_data = True

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawParser]
    throttle_classes: list = []

    def _ingest(self, request, token: str, params: dict | None = None) -> Response:
        limit = settings.RTCC_FEED_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return Response(
                {"detail": f"payload of {length} bytes is over the {limit} byte limit"},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        source = feed_source_for_token(token)
        if source is None:
            return Response(
                {"detail": "missing, unknown or revoked feed token"},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'Bearer realm="rtcc-gis feeds"'},
            )
        # DRF gives no stream without a Content-Length; a chunked push (ChunkedBodyLimit already capped it)
        # is read from the Django request itself.
        body = request.stream.read(limit + 1) if request.stream is not None else request._request.read(limit + 1)
        if len(body) > limit:
            return Response({"detail": f"payload is over the {limit} byte limit"}, status=413)
        try:
            report = feed_ingest(
                source_id=source.pk, payload=body, content_type=request.content_type or "", params=params
            )
        except PayloadError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except FeedUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(report.as_dict())


class FeedPushView(_IngestView):
    """POST a payload in the source's format with `Authorization: Bearer <source token>` (or
    `X-Feed-Token: <source token>`).

    200 with accepted/duplicate/rejected counts (bad records are listed with their reason and kept
    as dead letters; good ones are stored), 400 when nothing in the payload is readable, 401 for a
    bad token, 413 when the payload is too large.
    """

    @extend_schema(request={"*/*": bytes}, responses={200: OpenApiResponse(description="ingest report")})
    def post(self, request):
        return self._ingest(request, _bearer(request))


class OsmAndView(_IngestView):
    """The OsmAnd / Traccar client protocol: `/api/feeds/osmand/?id=&lat=&lon=&timestamp=...` with the
    source token in `Authorization: Bearer`, `X-Feed-Token`, or a `token` query or form parameter; or,
    for phone apps that can only be given one URL, in the path: `/api/feeds/osmand/<token>/?id=...`.
    Wherever it is sent, the access log and Django's request log show it redacted (apps.feeds.redaction);
    use HTTPS."""

    @extend_schema(responses={200: OpenApiResponse(description="ingest report")})
    def get(self, request, token: str = ""):
        params = request.query_params.dict()
        return self._ingest(request, self._token(request, token, params), params=params)

    @extend_schema(request={"*/*": bytes}, responses={200: OpenApiResponse(description="ingest report")})
    def post(self, request, token: str = ""):
        params = request.query_params.dict()
        if request.content_type.startswith("application/x-www-form-urlencoded"):
            from urllib.parse import parse_qsl

            raw = request.stream.read(settings.RTCC_FEED_MAX_BYTES + 1) if request.stream is not None else b""
            params |= dict(parse_qsl(raw.decode("utf-8", "replace")))
        return self._ingest(request, self._token(request, token, params), params=params)

    @staticmethod
    def _token(request, in_path: str, params: dict) -> str:
        in_params = params.pop(TOKEN_PARAM, "").strip()
        return in_path or _bearer(request) or in_params


@extend_schema_view(
    get=extend_schema(operation_id="feeds_osmand_path_retrieve"),
    post=extend_schema(operation_id="feeds_osmand_path_create"),
)
class OsmAndPathView(OsmAndView):
    """OsmAnd with the token in the path, for phone apps that can only be given one URL."""


class DeadLetterPagination(PageNumberPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class FeedSourceViewSet(viewsets.ReadOnlyModelViewSet):
    """Feed sources with their health: last success, last error, counts, and a stale flag."""

    serializer_class = FeedSourceSerializer
    required_perms = {
        "list": Perm.VIEW_FEED_HEALTH,
        "retrieve": Perm.VIEW_FEED_HEALTH,
        "dead_letters": Perm.MANAGE_FEEDS,
    }

    def get_queryset(self):
        return feed_source_list(user=self.request.user)

    def get_object(self):
        if parse_id(self.kwargs.get("pk", "")) is None:
            raise exceptions.NotFound(f"{self.kwargs.get('pk')!r} is not a valid id")
        return super().get_object()

    @extend_schema(responses=DeadLetterSerializer(many=True))
    @action(detail=True, url_path="dead-letters")
    def dead_letters(self, request, pk=None):
        source = self.get_object()
        paginator = DeadLetterPagination()
        page = paginator.paginate_queryset(dead_letter_list(user=request.user, source_id=source.pk), request, view=self)
        return paginator.get_paginated_response(DeadLetterSerializer(page, many=True).data)
