"""Issue, list and revoke API tokens for integrations.

manage.py api_token create USERNAME --name "ArcGIS Pro" [--days 90]   prints the key once
manage.py api_token list [USERNAME]
manage.py api_token revoke ID
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Create, list or revoke API tokens (Authorization: Token <key>); a token acts with its user's role."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a token and print its key (shown only this once)")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="what will use it, e.g. 'reporting job'")
        create.add_argument("--days", type=int, default=None, help="expire after N days (default: never)")
        listing = sub.add_parser("list", help="list tokens (never their keys)")
        listing.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke", help="revoke a token by id; it stops working at once")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(self, *, username: str, name: str, days: int | None, **_: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        if not name.strip():
            raise CommandError("--name must not be empty")
        try:
            token, key = ApiToken.objects.issue(user=user, name=name.strip(), days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}" if token.expires_at else "does not expire"
        self.stderr.write(f"token {token.pk} for {user} ({user.role or 'no role'}), {expiry}. Only its hash is kept:")
        # The key alone on stdout, so `KEY=$(manage.py api_token create ...)` captures just it.
        self.stdout.write(key)

    def _list(self, *, username: str | None, **_: Any) -> None:
        tokens = ApiToken.objects.select_related("user")
        if username:
            tokens = tokens.filter(user__username=username)
        for token in tokens:
            state = "revoked" if token.revoked_at else "expired" if token.is_expired else "active"
            last = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(f"{token.pk}\t{token.user}\t{token.name}\t{token.hint}…\t{state}\tlast used {last}")

    def _revoke(self, *, id: int, **_: Any) -> None:
        token = ApiToken.objects.select_related("user").filter(pk=id).first()
        if token is None:
            raise CommandError(f"no token with id {id}")
        already = token.revoked_at is not None
        token.revoke()
        self.stdout.write(f"{'already revoked' if already else 'revoked'}: {token.pk} {token}")
