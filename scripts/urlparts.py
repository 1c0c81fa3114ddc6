"""Print shell assignments for the parts of DATABASE_URL, DATABASE_OWNER_URL, DATABASE_ADMIN_URL and REDIS_URL
(used by setup.sh)."""

import os
import shlex
from urllib.parse import unquote, urlparse

db = urlparse(os.environ["DATABASE_URL"])
owner = urlparse(os.environ.get("DATABASE_OWNER_URL") or "postgis://rtcc_owner@127.0.0.1:5432/rtcc_gis")
admin = urlparse(os.environ.get("DATABASE_ADMIN_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
redis = urlparse(os.environ["REDIS_URL"])
parts = {
    "DB_HOST": db.hostname or "127.0.0.1",
    "DB_PORT": str(db.port or 5432),
    "DB_USER": unquote(db.username or "rtcc_app"),
    "DB_PASSWORD": unquote(db.password or ""),
    "DB_NAME": (db.path or "/rtcc_gis").lstrip("/") or "rtcc_gis",
    "OWNER_USER": unquote(owner.username or "rtcc_owner"),
    "OWNER_PASSWORD": unquote(owner.password or ""),
    "ADMIN_HOST": admin.hostname or db.hostname or "127.0.0.1",
    "ADMIN_PORT": str(admin.port or db.port or 5432),
    "ADMIN_USER": unquote(admin.username or "postgres"),
    "ADMIN_PASSWORD": unquote(admin.password or ""),
    "REDIS_HOST": redis.hostname or "127.0.0.1",
    "REDIS_PORT": str(redis.port or 6379),
}
for key, value in parts.items():
    print(f"{key}={shlex.quote(value)}")
