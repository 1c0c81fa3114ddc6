from django.db import models


class FeedMode(models.TextChoices):
    PUSH = "push", "Pushed to our endpoint (token)"
    POLL = "poll", "Polled from a URL (Celery beat)"
    LISTEN = "listen", "Received by a network listener (TCP/UDP)"
