"""Sign-in forms: the password step with lockout, and the one-time-code step."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError

from . import lockout

# Authenticator codes: six digits (django-otp's TOTPDevice default; settings.OTP_TOTP_*).
CODE_DIGITS = 6


def normalize_code(code: str) -> str | None:
    """The code as six ASCII digits, or None. Apps often show "123 456", so spaces and dashes are dropped."""
    cleaned = (code or "").replace(" ", "").replace("-", "").strip()
    if len(cleaned) != CODE_DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def locked_message() -> str:
    """Said for every attempt while locked, right password or not, so it reveals nothing."""
    minutes = max(1, round(lockout.lockout_seconds() / 60))
    return (
        "Too many failed sign-in attempts for this account or from this address. "
        f"Sign-in is blocked for up to {minutes} minute{'s' if minutes != 1 else ''}; try again later "
        "or ask your agency admin."
    )


def signal_refused(request: Any, username: str | None, reason: str) -> None:
    """Tell user_login_failed receivers (the audit trail) about a refusal that never reached
    authenticate(): a locked attempt or a wrong second factor. Same call shape as Django's, plus
    `reason`; no secret goes into `credentials`."""
    user_login_failed.send(sender=__name__, credentials={"username": username or ""}, request=request, reason=reason)


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing locked usernames/addresses before the password is checked
    and counting every wrong username/password pair."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()  # a missing field is a field error, not an attempt
        ip = lockout.client_ip(self.request)
        if lockout.is_locked(username, ip):
            # authenticate() is not even called: a locked attempt cannot test a password.
            signal_refused(self.request, username, "locked")
            raise ValidationError(locked_message(), code="locked")
        try:
            return super().clean()
        except ValidationError:
            if lockout.record_failure(username, ip):
                raise ValidationError(locked_message(), code="locked") from None
            raise


class TotpCodeForm(forms.Form):
    """A six-digit code from the user's authenticator app."""

    code = forms.CharField(
        label="Authentication code",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "autocapitalize": "none"}
        ),
    )

    def clean_code(self) -> str:
        code = normalize_code(self.cleaned_data["code"])
        if code is None:
            raise ValidationError(f"Enter the {CODE_DIGITS}-digit code from your authenticator app.", code="format")
        return code
