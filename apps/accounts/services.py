"""Writes to agencies, users, sharing rules and users' second factors."""

from __future__ import annotations

import time
from base64 import b32decode, b32encode
from binascii import hexlify, unhexlify
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from .models import Agency, AgencySharing
from .permissions import Layer

# "Leave this field as it is" for agency_sharing_update (None means "no start" / "no end" there).
UNCHANGED: Any = object()

LAYER_NAMES = frozenset(layer.value for layer in Layer)


def agency_ensure(*, code: str, name: str, time_zone: str = "America/Los_Angeles") -> tuple[Agency, bool]:
    code = code.strip().upper()
    if not code or len(code) > 16 or not code.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"agency code must be 1..16 letters, digits, - or _, got {code!r}")
    return Agency.objects.get_or_create(code=code, defaults={"name": name or code, "time_zone": time_zone})


def _clean_layers(layers: Iterable[str]) -> list[str]:
    if isinstance(layers, str):
        raise ValueError("layers must be a list of layer names, not one string")
    names = list(dict.fromkeys(str(name).strip() for name in layers))
    unknown = [name for name in names if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"unknown layer {', '.join(map(repr, unknown))}; use {', '.join(Layer)}")
    if not names:
        raise ValueError("a sharing rule needs at least one layer")
    return sorted(names)


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and timezone.is_naive(value):
            raise ValueError(f"{name} must carry a time zone")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")


def agency_sharing_create(
    *,
    owner_id: int,
    partner_id: int,
    layers: Iterable[str],
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    note: str = "",
) -> AgencySharing:
    """Let `partner_id`'s users see `owner_id`'s records on `layers` within [starts_at, ends_at).

    One rule per (owner, partner): to change what is shared, update the rule. ALPR reads are shared
    only when "alpr_reads" is listed by name (no rule implies them).
    """
    if owner_id == partner_id:
        raise ValueError("an agency does not share with itself")
    clean = _clean_layers(layers)
    _check_window(starts_at, ends_at)
    with transaction.atomic():
        if AgencySharing.objects.filter(owner_id=owner_id, partner_id=partner_id).exists():
            raise ValueError("this agency already shares with that partner; update that rule instead")
        rule = AgencySharing(
            owner_id=owner_id, partner_id=partner_id, layers=clean, starts_at=starts_at, ends_at=ends_at, note=note
        )
        rule.save()
    return rule


def agency_sharing_update(
    *,
    sharing_id: int,
    layers: Iterable[str] = UNCHANGED,
    starts_at: datetime | None = UNCHANGED,
    ends_at: datetime | None = UNCHANGED,
    note: str = UNCHANGED,
) -> AgencySharing:
    """Change a rule's layers, window or note (arguments left out stay as they are)."""
    with transaction.atomic():
        # Locked: two admins editing one rule must not each write half of their change.
        rule = AgencySharing.objects.select_for_update().get(pk=sharing_id)
        if layers is not UNCHANGED:
            rule.layers = _clean_layers(layers)
        if starts_at is not UNCHANGED:
            rule.starts_at = starts_at
        if ends_at is not UNCHANGED:
            rule.ends_at = ends_at
        if note is not UNCHANGED:
            rule.note = note
        _check_window(rule.starts_at, rule.ends_at)
        rule.save()
    return rule


def agency_sharing_end(*, sharing_id: int, at: datetime | None = None) -> AgencySharing:
    """End a rule at `at` (default now). The rule stays on record, so who could see what, and when,
    can still be answered later. Ending an already ended rule keeps its earlier end."""
    at = at or timezone.now()
    _check_window(None, at)
    with transaction.atomic():
        rule = AgencySharing.objects.select_for_update().get(pk=sharing_id)
        if rule.ends_at is not None and rule.ends_at <= at:
            return rule
        rule.ends_at = at
        if rule.starts_at is not None and rule.starts_at > at:
            # Ended before it began: an empty window [at, at), not an invalid one.
            rule.starts_at = at
        rule.save()
    return rule


# ---- two-factor authentication (django-otp's TOTPDevice) ---------------------------------------------
# One confirmed TOTP device per user. django-otp checks the code (SHA-1, 6 digits, 30 s steps, one step
# either side: settings.OTP_TOTP_*) and refuses a step at or before the last one used (`last_t`), so a
# code read over a shoulder or from a proxy log is refused once used. User.totp_confirmed_at mirrors
# "has a device" for the admin list and the audit trail (apps.accounts.signals); the key itself lives
# only on the device.


def totp_new_key() -> str:
    """A new random key as unpadded base32, to be shown to the user and kept in their session until a
    code proves their app has it."""
    return b32encode(unhexlify(random_hex(20))).decode("ascii").rstrip("=")


def _hex_key(secret_b32: str) -> str:
    cleaned = secret_b32.replace(" ", "").upper()
    return hexlify(b32decode(cleaned + "=" * (-len(cleaned) % 8))).decode("ascii")


def totp_provisioning_uri(*, user: Any, secret_b32: str) -> str:
    """The otpauth:// URI authenticator apps import (django-otp's, issuer OTP_TOTP_ISSUER); shown as text."""
    return TOTPDevice(user=user, key=_hex_key(secret_b32)).config_url


def totp_device_confirm(*, user: Any, secret_b32: str, code: str) -> bool:
    """Enrol: if `code` is valid for the key, store the key as the user's confirmed device (the code is
    spent: it cannot sign in) and return True; otherwise store nothing."""
    device = TOTPDevice(user=user, name="authenticator app", key=_hex_key(secret_b32), confirmed=True)
    check = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    check.time = time.time()
    if not code.isdigit() or not check.verify(int(code), tolerance=device.tolerance):
        return False
    device.last_t = check.t()
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device.save()
        user.totp_confirmed_at = timezone.now()
        user.save(update_fields=["totp_confirmed_at"])
    return True


def totp_device_verify(*, user: Any, code: str) -> bool:
    """Whether `code` is a valid, not yet used code of the user's confirmed device. The device row is
    locked while checking, so two requests racing with the same code cannot both win."""
    if not code.isdigit():
        return False
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        return device is not None and device.verify_token(code)


def totp_device_remove(*, user: Any) -> None:
    """Turn two-factor authentication off (the user, or an admin for a lost phone)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        user.totp_confirmed_at = None
        user.save(update_fields=["totp_confirmed_at"])
