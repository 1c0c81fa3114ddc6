"""ASGI entry point: HTTP through Django, WebSockets through Channels (authenticated sessions)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcc_gis.settings")
# Set up Django (apps, models) before importing anything that touches models: the consumers do.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.accounts.middleware import IdleSessionSocketMiddleware  # noqa: E402
from apps.core.httplimits import ChunkedBodyLimit  # noqa: E402
from apps.core.httplimits import install as install_http_limits  # noqa: E402
from apps.core.unavailable import WebSocketUnavailableGuard  # noqa: E402
from apps.live.routing import websocket_urlpatterns as live_urlpatterns  # noqa: E402

# Daphne answers 414/431 for an oversized request line/headers instead of dropping the connection.
install_http_limits()

websocket_urlpatterns: list = [*live_urlpatterns]

application = ProtocolTypeRouter(
    {
        # A chunked body (no Content-Length) is read under the size limit here, 413 above it.
        "http": ChunkedBodyLimit(django_asgi_app),
        # Origin check first (a page on another site must not ride the session cookie), then the
        # session user in scope["user"] (none for a session gone idle); each consumer authorizes in connect().
        # Outermost, the guard: a part down while connecting closes the socket with 4503, never a 500.
        "websocket": WebSocketUnavailableGuard(
            AllowedHostsOriginValidator(
                AuthMiddlewareStack(IdleSessionSocketMiddleware(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)
