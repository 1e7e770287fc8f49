"""A Chinese browser sees the sign-in, the dashboard's header and the settings page in Chinese; the
language switcher works without JavaScript (issue 12). Screenshots of the sign-in, register and
settings pages in both languages at desktop and phone widths."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.factories import DEFAULT_PIN, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _context(browser, live_server, *, locale, javascript=True, viewport=DESKTOP):
    context = browser.new_context(
        base_url=live_server.url, locale=locale, viewport=viewport, java_script_enabled=javascript
    )
    context.set_default_timeout(15_000)
    return context


def test_a_chinese_browser_signs_in_and_reads_chinese_then_switches_to_english_without_js(browser, live_server, shot):
    user = UserFactory(email="lin@example.com")
    context = _context(browser, live_server, locale="zh-CN")
    page = context.new_page()

    page.goto("/")
    page.locator("header [data-auth-open=signin]").click()
    dialog = page.locator("dialog#auth-modal")
    expect(dialog.get_by_role("tab", name="登录")).to_be_visible()
    expect(dialog.get_by_role("tab", name="忘记 PIN 码")).to_be_visible()
    panel = dialog.get_by_role("tabpanel")
    panel.get_by_label("邮箱").fill("lin@example.com")
    panel.get_by_label("PIN 码").fill("5820")
    panel.get_by_role("button", name="登录").click()
    # A wrong PIN: the full page answers in Chinese and says how many tries are left.
    expect(page.get_by_test_id("form-error")).to_contain_text("邮箱和 PIN 码不匹配任何账户")
    expect(page.get_by_test_id("form-error")).to_contain_text("还可以再试 4 次")

    main = page.locator("main")
    main.get_by_label("PIN 码").fill(DEFAULT_PIN)
    main.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    header = page.locator("header")
    expect(header.get_by_test_id("language-zh-hans")).to_have_count(0)  # the page is in it already
    expect(header.get_by_role("button", name="English")).to_be_visible()
    # The dashboard links the PIN page, which links the settings (the dashboard's own link to them
    # comes with the dashboard's translation: `settings_url`).
    page.goto("/accounts/password/change/")
    expect(page.get_by_role("heading", name="修改 PIN 码")).to_be_visible()
    page.get_by_role("link", name="我的设置").click()
    expect(page.get_by_role("heading", name="我的设置")).to_be_visible()
    expect(page.get_by_label("昵称")).to_be_visible()
    expect(page.get_by_label("时区")).to_have_value("")
    context.close()

    # Without JavaScript, the switcher is a plain form: English, and saved for the member.
    context = _context(browser, live_server, locale="zh-CN", javascript=False)
    page = context.new_page()
    page.goto("/accounts/login/?next=/account/settings/")
    main = page.locator("main")
    main.get_by_label("邮箱").fill("lin@example.com")
    main.get_by_label("PIN 码").fill(DEFAULT_PIN)
    main.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/account/settings/$"))
    expect(page.get_by_role("heading", name="我的设置")).to_be_visible()
    page.locator("header").get_by_test_id("language-en").click()
    page.wait_for_url(re.compile(r"/account/settings/$"))
    expect(page.get_by_role("heading", name="Your settings")).to_be_visible()
    assert User.objects.get(pk=user.pk).language == "en"
    context.close()


def test_settings_saved_in_the_browser_change_the_page(browser, live_server):
    UserFactory(email="lin@example.com")
    context = _context(browser, live_server, locale="en-US", javascript=False)
    page = context.new_page()
    page.goto("/accounts/login/?next=/account/settings/")
    main = page.locator("main")
    main.get_by_label("Email").fill("lin@example.com")
    main.get_by_label("PIN").fill(DEFAULT_PIN)
    main.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/account/settings/$"))
    page.get_by_label("Display name").fill("x")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#id_display_name_error")).to_contain_text("2 to 30 characters")
    page.get_by_label("Display name").fill("小林")
    page.get_by_label("Language", exact=True).select_option("zh-hans")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_label("Display currency").select_option("CNY")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("heading", name="我的设置")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("设置已保存")
    expect(page.get_by_label("时区")).to_have_value("America/New_York")
    expect(page.get_by_test_id("local-time")).to_contain_text("America/New_York")
    context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_screenshots_of_the_account_pages(browser, live_server, shot, locale, viewport):
    UserFactory(email="lin@example.com", display_name="Lin")
    context = _context(browser, live_server, locale=locale, viewport=viewport)
    page = context.new_page()
    name = f"{locale[:2]}-{viewport['width']}"
    page.goto("/accounts/login/")
    shot(page, f"i18n-sign-in-{name}")
    page.goto("/accounts/signup/")
    shot(page, f"i18n-register-{name}")
    page.goto("/")
    page.locator("header [data-auth-open=signin]").click()
    expect(page.locator("dialog#auth-modal")).to_be_visible()
    shot(page, f"i18n-sign-in-modal-{name}")
    page.goto("/accounts/login/?next=/account/settings/")
    main = page.locator("main")
    main.locator("#id_login").fill("lin@example.com")
    main.locator("#id_password").fill(DEFAULT_PIN)
    main.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/account/settings/$"))
    shot(page, f"i18n-settings-{name}")
    page.locator("#id_display_name").fill("x")
    page.locator("main button[type=submit]").click()
    expect(page.locator("#id_display_name_error")).to_be_visible()
    shot(page, f"i18n-settings-error-{name}")
    context.close()
