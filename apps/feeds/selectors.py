"""Reads of feed sources and their dead letters."""

from django.db.models import QuerySet

from apps.accounts.selectors import scope_to_user

from .models import DeadLetter, FeedSource


def feed_source_list(*, user) -> QuerySet[FeedSource]:
    # No layer: feed health and dead letters are the agency's own plumbing, never shared.
    return scope_to_user(FeedSource.objects.select_related("agency"), user)


def dead_letter_list(*, user, source_id: int) -> QuerySet[DeadLetter]:
    return DeadLetter.objects.filter(source__in=feed_source_list(user=user), source_id=source_id)
