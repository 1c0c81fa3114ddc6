"""WSGI entry point (management tools; the product itself runs under ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcc_gis.settings")
application = get_wsgi_application()
