"""The site's chrome in Chromium: the phone menu, the history filter and CSV, the 404 page, and
screenshots of the main pages in both languages at desktop and phone widths."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import DEFAULT_PIN, UserFactory, fund

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _member_with_history():
    user = UserFactory(email="rich@example.com")
    fund(user, "50.00", key="b1")
    fund(user, "25.00", key="b2", kind="bonus")
    fund(user, "3.00", key="e1", kind="earn")
    return user


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_phone_menu_opens_and_leads_somewhere(page, shot):
    page.set_viewport_size(PHONE)
    page.goto("/")
    menu = page.locator("#main-menu")
    expect(menu).to_be_hidden()
    expect(page.get_by_test_id("header-buy")).to_be_visible()  # the buy link stays in the bar
    page.get_by_test_id("menu-button").click()
    expect(menu).to_be_visible()
    shot(page, "chrome-menu-open-390")
    menu.get_by_role("link", name="Reward store").click()
    page.wait_for_url(re.compile(r"/rewards/"))
    _no_sideways_scroll(page)


def test_the_phone_menu_works_without_javascript(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    page.get_by_test_id("menu-button").click()
    expect(page.locator("#main-menu")).to_be_visible()
    context.close()


def test_desktop_shows_the_menu_without_a_button(page):
    page.goto("/")
    expect(page.locator("#main-menu")).to_be_visible()
    expect(page.get_by_test_id("menu-button")).to_be_hidden()


def test_history_filter_and_csv_download(page, shot):
    _member_with_history()
    sign_in(page, "rich@example.com", DEFAULT_PIN)
    page.wait_for_url(re.compile(r"/dashboard/$"))
    history = page.get_by_test_id("history")
    expect(history.locator("tbody tr")).to_have_count(3)
    page.get_by_label("Type").select_option("bonus")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"type=bonus"))
    expect(history.locator("tbody tr")).to_have_count(1)
    with page.expect_download() as download_info:
        page.get_by_test_id("history-csv").click()
    download = download_info.value
    assert download.suggested_filename.startswith("history-")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    assert rows[0][0] == "Date" and len(rows) == 2 and rows[1][3] == "25.00"
    # A bad date is a message on the form, not an error page.
    page.goto("/dashboard/?start=2026-02-31")
    expect(page.get_by_text("Enter the start date as YYYY-MM-DD.")).to_be_visible()
    page.set_viewport_size(PHONE)
    page.goto("/dashboard/")
    _no_sideways_scroll(page)
    shot(page, "chrome-dashboard-history-390")


def test_the_404_page(page, shot):
    response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shot(page, "chrome-404")
    page.get_by_role("link", name="Back to the home page").click()
    page.wait_for_url(re.compile(r"/$"))


def test_the_wallet_connect_button_stays_hidden_without_a_wallet(page):
    _member_with_history()
    sign_in(page, "rich@example.com", DEFAULT_PIN)
    page.goto("/wallet/connect/")
    button = page.locator("#browser-wallet")
    expect(button).to_have_count(1)
    expect(button).to_be_hidden()  # Chromium here has no window.ethereum
    assert button.evaluate("b => getComputedStyle(b).display") == "none"


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_screenshots_in_both_languages(browser, live_server, language, settings):
    """Home, dashboard (with history), 404 and 500 in English and Chinese at 1280 and 390 px.
    The 500 is the real template, rendered as Django would (no request context)."""
    _member_with_history()
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale=language)
    page = context.new_page()
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lang = "zh" if language.startswith("zh") else "en"

    def both_widths(name: str) -> None:
        for width, viewport in (("1280", DESKTOP), ("390", PHONE)):
            page.set_viewport_size(viewport)
            _no_sideways_scroll(page)
            page.screenshot(path=str(ARTIFACTS / f"chrome-{name}-{lang}-{width}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    page.goto("/")
    if lang == "zh":
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    both_widths("home")
    page.goto("/no-such-page/")
    both_widths("404")
    page.goto("/accounts/login/")
    main = page.locator("main")
    main.locator("input[name=login]").fill("rich@example.com")
    main.locator("input[name=password]").fill(DEFAULT_PIN)
    main.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    both_widths("dashboard")
    page.set_content(_render_500(language))
    both_widths("500")
    context.close()


def _render_500(language: str) -> str:
    from django.test import RequestFactory
    from django.utils import translation

    from config.errors import server_error

    with translation.override("zh-hans" if language.startswith("zh") else "en"):
        html = server_error(RequestFactory().get("/")).content.decode()
    # set_content has no base URL for the stylesheet: inline it.
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "goldbook.css").read_text()
    return re.sub(r'<link rel="stylesheet"[^>]*>', f"<style>{css}</style>", html)
