"""Audit records for changes to who may do what, and for sign-ins.

Permission changes can be made from several places (the admin site, the shell, management
commands, future APIs), so they are caught where they all meet: model signals. Each event records
old -> new, and the actor is taken from the current request (`apps.audit.middleware`) when there is
one; without a request the event says `"via": "system"`.

- a user's role, agency, is_active, is_staff, is_superuser (creation included), and whether a
  second factor is enrolled (`totp_confirmed_at`; the TOTP secret itself never);
- group membership and direct permissions of a user, and a group's permissions (either side of
  the many-to-many may be edited, so both directions are handled);
- agency sharing rules created, changed or deleted;
- sign-in, sign-out and failed sign-in (the username tried, never the password).

These handlers only write the audit record; they change nothing else.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.models import Group, Permission
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from apps.audit.middleware import current_request
from apps.audit.models import AuditAction
from apps.audit.services import audit_record

from .models import Agency, AgencySharing, User

USER_FIELDS = ("role", "agency_id", "is_active", "is_staff", "is_superuser", "totp_confirmed_at")
SHARING_FIELDS = ("owner_id", "partner_id", "layers", "starts_at", "ends_at", "note")


def _record(*, action: str, obj: Model, detail: dict[str, Any], agency_id: int | None) -> None:
    """One audit event for a change, attributed to whoever is signed in on the current request."""
    request = current_request()
    actor = getattr(request, "user", None) if request is not None else None
    detail = {**detail, "via": request.path if request is not None else "system"}
    audit_record(user=actor, action=action, obj=obj, detail=detail, request=request, agency_id=agency_id)


def _agency_codes(*ids: int | None) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    return dict(Agency.objects.filter(pk__in=wanted).values_list("pk", "code")) if wanted else {}


# ---- users: role, agency, flags ----------------------------------------------------------------


@receiver(pre_save, sender=User, dispatch_uid="audit_user_before")
def _user_before(sender, instance: User, raw: bool = False, update_fields=None, **kwargs) -> None:
    instance._audit_before = None  # type: ignore[attr-defined]
    if raw or instance._state.adding or instance.pk is None:
        return
    # last_login is saved on every sign-in with update_fields; no permission can change then.
    watched = {"role", "agency", "agency_id", *USER_FIELDS}
    if update_fields is not None and not watched & set(update_fields):
        return
    instance._audit_before = User.objects.filter(pk=instance.pk).values(*USER_FIELDS).first()  # type: ignore[attr-defined]


@receiver(post_save, sender=User, dispatch_uid="audit_user_after")
def _user_after(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    before = instance.__dict__.pop("_audit_before", None)
    if not created and before is None:
        return
    old = before or dict.fromkeys(USER_FIELDS)
    changes = {
        field: [old[field], getattr(instance, field)] for field in USER_FIELDS if old[field] != getattr(instance, field)
    }
    if not changes:
        return
    if "agency_id" in changes:
        codes = _agency_codes(*changes["agency_id"])
        changes["agency"] = [codes.get(i) for i in changes["agency_id"]]
    _record(
        action=AuditAction.PERMISSION_CHANGE,
        obj=instance,
        detail={"user": instance.get_username(), "created": created, "changes": changes},
        # Filed under the user's agency (the new one when moved) so that agency's auditors see it.
        agency_id=instance.agency_id or old["agency_id"],
    )


# ---- groups and permissions (many-to-many) -------------------------------------------------------


def _label(obj: Model) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Group):
        return obj.name
    return str(obj)


# through model -> (the model whose permissions change, its field name)
_M2M = {
    User.groups.through: (User, "groups"),
    User.user_permissions.through: (User, "user_permissions"),
    Group.permissions.through: (Group, "permissions"),
}


def _m2m_changed(sender, instance: Model, action: str, reverse: bool, model, pk_set, **kwargs) -> None:
    owner_model, field = _M2M[sender]
    if action == "pre_clear":
        # After the clear nothing says what was there; remember it for post_clear.
        if reverse:
            owners = list(owner_model.objects.filter(**{field: instance}))
            related = [instance] if owners else []
        else:
            owners, related = [instance], list(getattr(instance, field).all())
        instance.__dict__.setdefault("_audit_cleared", {})[sender] = (owners, related)
        return
    if action == "post_clear":
        owners, related = instance.__dict__.get("_audit_cleared", {}).pop(sender, ([], []))
        verb = "removed"
    elif action in ("post_add", "post_remove") and pk_set:
        verb = "added" if action == "post_add" else "removed"
        if reverse:
            owners, related = list(owner_model.objects.filter(pk__in=pk_set)), [instance]
        else:
            owners, related = [instance], list(model.objects.filter(pk__in=pk_set))
    else:
        return
    if not related:
        return
    names = sorted(_label(obj) for obj in related)
    for owner in owners:
        _record(
            action=AuditAction.PERMISSION_CHANGE,
            obj=owner,
            detail={
                owner_model._meta.model_name: _label(owner) if isinstance(owner, Group) else owner.get_username(),
                "changes": {field: {verb: names}},
            },
            agency_id=getattr(owner, "agency_id", None),
        )


for _through in _M2M:
    m2m_changed.connect(_m2m_changed, sender=_through, dispatch_uid=f"audit_m2m_{_through._meta.label_lower}")


# ---- agency sharing rules ----------------------------------------------------------------------


def _sharing_values(rule: AgencySharing) -> dict[str, Any]:
    return {field: getattr(rule, field) for field in SHARING_FIELDS}


@receiver(pre_save, sender=AgencySharing, dispatch_uid="audit_sharing_before")
def _sharing_before(sender, instance: AgencySharing, raw: bool = False, **kwargs) -> None:
    instance._audit_before = None  # type: ignore[attr-defined]
    if raw or instance._state.adding or instance.pk is None:
        return
    instance._audit_before = AgencySharing.objects.filter(pk=instance.pk).values(*SHARING_FIELDS).first()  # type: ignore[attr-defined]


def _sharing_detail(rule: AgencySharing, changes: dict[str, list[Any]], state: str) -> dict[str, Any]:
    codes = _agency_codes(rule.owner_id, rule.partner_id)
    return {
        "rule": f"{codes.get(rule.owner_id)} -> {codes.get(rule.partner_id)}",
        state: True,
        "changes": changes,
    }


@receiver(post_save, sender=AgencySharing, dispatch_uid="audit_sharing_after")
def _sharing_after(sender, instance: AgencySharing, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    before = instance.__dict__.pop("_audit_before", None)
    if not created and before is None:
        return
    old = before or dict.fromkeys(SHARING_FIELDS)
    new = _sharing_values(instance)
    changes = {field: [old[field], new[field]] for field in SHARING_FIELDS if old[field] != new[field]}
    if not changes:
        return
    _record(
        action=AuditAction.SHARING_CHANGE,
        obj=instance,
        detail=_sharing_detail(instance, changes, "created" if created else "changed"),
        # The owner's records are what the rule exposes; its auditors must see the rule change.
        agency_id=instance.owner_id,
    )


@receiver(post_delete, sender=AgencySharing, dispatch_uid="audit_sharing_deleted")
def _sharing_deleted(sender, instance: AgencySharing, **kwargs) -> None:
    changes = {field: [value, None] for field, value in _sharing_values(instance).items()}
    _record(
        action=AuditAction.SHARING_CHANGE,
        obj=instance,
        detail=_sharing_detail(instance, changes, "deleted"),
        agency_id=instance.owner_id,
    )


# ---- sign-in -------------------------------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    audit_record(user=user, action=AuditAction.LOGIN, obj=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(user=user, action=AuditAction.LOGOUT, obj=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials: dict[str, Any], request=None, reason: str = "", **kwargs) -> None:
    """Django sends this when authenticate() fails; the sign-in forms send it too, with `reason`
    ("locked", a wrong second factor...), for refusals that never reach authenticate()."""
    # Only the username is taken from the credentials: the password (already masked by Django)
    # and any other secret never reach the trail.
    tried = str(credentials.get(User.USERNAME_FIELD) or "")[:150]
    known = User.objects.filter(**{User.USERNAME_FIELD: tried}).values("pk", "agency_id").first() if tried else None
    audit_record(
        user=None,
        username=tried,
        action=AuditAction.LOGIN_FAILED,
        object_type="accounts.user" if known else "",
        object_id=known["pk"] if known else "",
        # Filed under the account's agency so its auditors see attempts against their users.
        agency_id=known["agency_id"] if known else None,
        detail={
            "username_tried": tried,
            "known_user": known is not None,
            "refused": str(reason) or "wrong username or password",
        },
        request=request,
    )
