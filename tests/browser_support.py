"""Shared pieces for the headless-Chromium tests: Debian's Chromium driven by Playwright's sync API,
and a watcher that refuses console errors, failed requests and requests to other hosts."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses ORM
    # calls from a thread with a running loop unless told it is safe (it is: the loop is idle).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageWatch:
    """Everything the page did that a test may want to refuse: errors, failures, outside hosts."""

    def __init__(self, page, server_url: str):
        self.server = urlsplit(server_url).netloc
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []
        self.bad_status: list[str] = []
        self.hosts: set[str] = set()
        self.api_calls: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)
        page.on("response", lambda res: res.status >= 400 and self.bad_status.append(f"{res.status} {res.url}"))
        page.on("websocket", lambda ws: self.hosts.add(urlsplit(ws.url).netloc))

    def _request(self, request):
        parts = urlsplit(request.url)
        self.hosts.add(parts.netloc or parts.scheme)
        if parts.path.startswith("/api/"):
            self.api_calls.append(parts.path)

    def _failed(self, request):
        # Aborted fetches (a newer viewport replaced them) are expected, not failures.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def assert_clean(self):
        assert self.page_errors == []
        assert self.console_errors == []
        assert self.failed == []
        assert self.bad_status == []
        assert self.hosts <= {self.server, "data"}, f"requests left the server: {self.hosts}"
