"""Headless Chromium against the live test server (pytest-django's ``live_server``).

Chromium is the system's (/usr/bin/chromium, or CHROMIUM_PATH); Playwright's own browser
downloads are never used. Screenshots for the README are written to docs/screenshots/
only when SCREENSHOTS=1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is deliberate (it is: tests only).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def browser():
    """Chromium for one test; started after the test database is set up, stopped before.

    While Playwright runs, its event loop counts as running in this thread, and Django
    then keeps a second set of database connections for it (asgiref's thread-critical
    Local switches to per-context storage). Starting and stopping Playwright inside each
    test keeps pytest-django's setup and teardown (flush, serialized rollback) on the
    original connection; the second set is closed before Playwright stops.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium`, set "
            "CHROMIUM_PATH, or leave the browser tests out with `-m 'not browser'`."
        )
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
        connections.close_all()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="en-GB", accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot() -> Callable:
    """``screenshot(page, "name")`` saves docs/screenshots/name.png when SCREENSHOTS=1."""

    def take(tab, name: str) -> None:
        if os.environ.get("SCREENSHOTS") != "1":
            return
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def demo_museum():
    """The demo museum of `make run`: two sites, three exhibitions, 60 days of slots."""
    import io

    from django.core.management import call_command

    call_command("load_demo", stdout=io.StringIO())
