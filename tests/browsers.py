"""Driving Debian's Chromium with Playwright in tests, offline.

Playwright comes from PyPI; its own browser download is never used: tests
launch the system's /usr/bin/chromium (system-packages.txt) with a fresh
profile, and route every request so that nothing leaves 127.0.0.1.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
VIEWPORT = {"width": 1400, "height": 900}


def require_chromium() -> None:
    """Skip, saying how to get it, where Debian's Chromium is not installed."""
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}; `make test` installs it from system-packages.txt "
                    "(scripts/install-system-packages.sh, needs root)")


class LoopbackOnly:
    """A route handler for every request of a browser context: local ones go through, others are blocked and recorded."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@contextmanager
def chromium_context(playwright, profile: Path) -> Iterator[tuple[object, LoopbackOnly]]:
    """A Chromium browser context with a fresh profile and the loopback-only guard; closed afterwards."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT,
    )
    guard = LoopbackOnly()
    context.route("**/*", guard)
    try:
        yield context, guard
    finally:
        context.close()
