"""Feed tokens never reach a log: they are redacted from access-log lines and Django's request log.

A feed source's push token is a password for writing positions and incidents onto every operator's
map. OsmAnd and Traccar phone clients are given one URL and put the token in its path
(`/api/feeds/osmand/<token>/`) or in a `token=` parameter, and any server that writes request lines
(Daphne's access log, `runserver`, Django's "Unauthorized: <path>" warnings) would write it to disk.

`redact()` takes the token out of any text that holds a request line or path; the ASGI server is
started through rtcc_gis/serve.py, whose access log runs every line through it, and
`RedactTokensFilter` (settings.LOGGING) does the same for Django's and Daphne's loggers;
`RedactingAdminEmailHandler` also redacts the error report it emails (the request's URL and META).
"""

from __future__ import annotations

import copy
import logging
import re

from daphne.access import AccessLogGenerator
from django.utils.log import AdminEmailHandler

REDACTED = "[redacted]"
# The path segment after /feeds/osmand/ (any URL prefix; percent-encoded or not, up to the next / ? # or space).
_TOKEN_IN_PATH = re.compile(r"(/feeds/osmand/)[^/?#\s\"']+", re.IGNORECASE)
# token=, key=, access_token= and feed_token= in a query string or form body.
TOKEN_PARAMS = ("token", "key", "access_token", "feed_token")
_TOKEN_PARAM = re.compile(rf"((?:^|[?&;\s])(?:{'|'.join(TOKEN_PARAMS)})=)[^&#\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every feed token (in an OsmAnd path or a token parameter) replaced by [redacted]."""
    return _TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", _TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED}", text))


class RedactingAccessLogGenerator(AccessLogGenerator):
    """Daphne's NCSA-style access log, with feed tokens redacted from the request line."""

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        super().write_entry(host, date, redact(str(request)), status, length, ident, user)


class RedactTokensFilter(logging.Filter):
    """A logging filter that rewrites a record's message with feed tokens redacted (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is left for the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingAdminEmailHandler(AdminEmailHandler):
    """Django's mail_admins handler; the report it emails (subject, text and HTML, which show the request's
    path, query string and META) has feed tokens redacted."""

    def emit(self, record: logging.LogRecord) -> None:
        request = getattr(record, "request", None)
        if request is not None:  # the report lists GET and POST by name: a copy with token parameters masked
            try:
                request = copy.copy(request)
                for name in ("GET", "POST"):
                    params = getattr(request, name).copy()
                    for key in list(params):
                        if key.lower() in TOKEN_PARAMS:
                            params.setlist(key, [REDACTED])
                    setattr(request, name, params)
            except Exception:  # parameters that cannot be read (too many, a broken body): report without them
                request = None
            record.request = request
        super().emit(record)

    def send_mail(self, subject, message, *args, **kwargs):
        if kwargs.get("html_message"):
            kwargs["html_message"] = redact(kwargs["html_message"])
        super().send_mail(redact(subject), redact(message), *args, **kwargs)
