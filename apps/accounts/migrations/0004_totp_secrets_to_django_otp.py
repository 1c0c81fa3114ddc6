"""Each enrolled user's TOTP key moves from User.totp_secret to a confirmed django-otp TOTPDevice.

The same key, step (30 s), digits (6) and tolerance (one step): authenticator apps keep working and
nobody enrols again. The column itself is dropped by the next migration (its own transaction: the new
device rows' deferred foreign-key checks must have run before the user table is altered).
"""

from base64 import b32decode, b32encode
from binascii import hexlify, unhexlify

from django.db import migrations


def _hex(secret: str) -> str:
    cleaned = secret.replace(" ", "").upper()
    return hexlify(b32decode(cleaned + "=" * (-len(cleaned) % 8))).decode("ascii")


def secrets_to_devices(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    for user in User.objects.exclude(totp_secret="").exclude(totp_confirmed_at=None):
        TOTPDevice.objects.create(
            user=user, name="authenticator app", key=_hex(user.totp_secret), confirmed=True,
            step=30, t0=0, digits=6, tolerance=1, drift=0,
        )


def devices_to_secrets(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    for device in TOTPDevice.objects.filter(confirmed=True):
        secret = b32encode(unhexlify(device.key)).decode("ascii").rstrip("=")
        User.objects.filter(pk=device.user_id).update(totp_secret=secret)
    TOTPDevice.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_api_token"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(secrets_to_devices, devices_to_secrets)]
