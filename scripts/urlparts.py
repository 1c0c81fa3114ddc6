"""Print shell assignments for the parts of DATABASE_URL and REDIS_URL (used by setup.sh)."""
import os
import shlex
from urllib.parse import unquote, urlparse

db = urlparse(os.environ["DATABASE_URL"])
redis = urlparse(os.environ["REDIS_URL"])
parts = {
    "DB_HOST": db.hostname or "127.0.0.1",
    "DB_PORT": str(db.port or 5432),
    "DB_USER": unquote(db.username or "postgres"),
    "DB_PASSWORD": unquote(db.password or ""),
    "DB_NAME": (db.path or "/rtcc_gis").lstrip("/") or "rtcc_gis",
    "REDIS_HOST": redis.hostname or "127.0.0.1",
    "REDIS_PORT": str(redis.port or 6379),
}
for key, value in parts.items():
    print(f"{key}={shlex.quote(value)}")
