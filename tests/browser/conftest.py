"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Screenshots go to test-artifacts/screenshots/ (kept by CI as artifacts). Use the `shot` fixture:
`shot(page, "dashboard")`.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told this is deliberate. The ORM calls here are the test's own.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is not installed (.ci/run installs Debian's chromium package).")
    pytest.skip("Chromium is not installed: apt-get install chromium")


@pytest.fixture
def browser() -> Iterator[object]:
    """One Chromium per test, on purpose. While Playwright's sync loop runs, Django hands this
    thread a different database connection object; a session-wide loop would leave every later
    test on that stray connection (without pytest-django's serialized data). Closing the loop's
    connections before the loop ends puts the test back on its own connection."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    path = _chromium_path()
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
            connections.close_all()


@pytest.fixture
def page(browser: object, live_server: object) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def shot() -> Callable[[object, str], Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(pg: object, name: str) -> Path:
        target = ARTIFACTS / f"{name}.png"
        pg.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
        return target

    return take


def sign_in(page: object, email: str, pin: str, *, next_path: str = "") -> None:
    """Sign in through the full-page form (works with or without the modal's JavaScript)."""
    page.goto("/accounts/login/" + (f"?next={next_path}" if next_path else ""))  # type: ignore[attr-defined]
    main = page.locator("main")  # type: ignore[attr-defined]
    main.get_by_label("Email").fill(email)
    main.get_by_label("PIN").fill(pin)
    main.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()  # type: ignore[attr-defined]


LOCALES = {"en": ("en-US", "en-US,en;q=0.9"), "zh": ("zh-CN", "zh-CN,zh;q=0.9")}
WIDTHS = (1280, 390)


def signed_in_context(browser: Any, live_server: Any, user: Any, lang: str = "en") -> Any:
    """A browser context already signed in as `user` (session cookie), in a language."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    locale, accept = LOCALES[lang]
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        locale=locale,
        extra_http_headers={"Accept-Language": accept},
    )
    context.set_default_timeout(15_000)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context
