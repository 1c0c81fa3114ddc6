"""API tokens for integrations (GIS tools, reporting jobs): `Authorization: Token <key>`.

The token authenticates as its user, so the role matrix and agency scoping apply unchanged; the
token itself is `request.auth`. A request without a Token header is left to the other
authenticators (the map's session).
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from .models import ApiToken, User, hash_api_token

KEYWORD = "Token"
CHALLENGE = f'{KEYWORD} realm="rtcc-gis"'


class TokenRejected(exceptions.APIException):
    """401 with the reason and a Token challenge.

    Not an AuthenticationFailed on purpose: DRF turns those into 403 whenever the first configured
    authenticator (the session) has no WWW-Authenticate scheme, and an integration must be able to
    tell "your key is bad" (401) from "your role may not do this" (403).
    """

    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "Invalid token."
    default_code = "authentication_failed"
    auth_header = CHALLENGE


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates `Authorization: Token <key>` against ApiToken (stored as SHA-256)."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise TokenRejected("Malformed Authorization header: expected 'Token <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise TokenRejected("Unknown token.") from None
        token = ApiToken.objects.select_related("user", "user__agency").filter(token_hash=hash_api_token(key)).first()
        if token is None:
            raise TokenRejected("Unknown token.")
        if token.revoked_at is not None:
            raise TokenRejected("Token revoked.")
        if token.is_expired:
            raise TokenRejected("Token expired.")
        if not token.user.is_active:
            raise TokenRejected("User inactive or deleted.")
        token.touch()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the Token scheme in /api/schema/ (drf-spectacular cannot infer a custom class)."""

    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; keys are issued with `manage.py api_token create` or in the admin.",
        }
