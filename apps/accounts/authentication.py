"""API tokens for integrations (GIS tools, reporting): placeholder until the token model lands."""
from rest_framework.authentication import BaseAuthentication


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates `Authorization: Token <key>`; implemented with the ApiToken model."""

    def authenticate(self, request):
        return None
