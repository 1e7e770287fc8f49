import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import DEFAULT_PIN, UserFactory, fund

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


MOBILE = {"width": 390, "height": 844}


def open_modal(page, tab):
    page.locator(f"header [data-auth-open={tab}]").click()
    dialog = page.locator("dialog#auth-modal")
    assert dialog.is_visible()
    return dialog.get_by_role("tabpanel")  # hidden tab panels are not in the accessibility tree


def test_register_in_the_modal_sign_out_sign_in_and_see_the_dashboard(page, shot):
    page.goto("/")
    dialog = open_modal(page, "register")
    shot(page, "modal-register")
    dialog.get_by_label("Email").fill("newbie@example.com")
    dialog.get_by_label("Choose a PIN").fill("58203")
    dialog.get_by_role("button", name="Create account").click()

    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.get_by_role("heading", name="Your dashboard").is_visible()
    assert page.locator("#header-balance").inner_text() == "0.00"
    assert page.get_by_test_id("history-empty").is_visible()
    shot(page, "dashboard-new-member")

    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("header [data-auth-open=signin]").is_visible()

    dialog = open_modal(page, "signin")
    dialog.get_by_label("Email").fill("newbie@example.com")
    dialog.get_by_label("PIN").fill("58203")
    shot(page, "modal-sign-in")
    dialog.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.get_by_role("heading", name="Your dashboard").is_visible()


def test_dashboard_with_history_desktop_and_mobile(page, shot, live_server):
    user = UserFactory(email="rich@example.com")
    fund(user, "50.00", key="b1")
    fund(user, "25.00", key="b2", kind="bonus")
    sign_in(page, "rich@example.com", DEFAULT_PIN)
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.get_by_test_id("stat-balance").inner_text().find("75.00") >= 0
    assert page.get_by_test_id("history").locator("tbody tr").count() == 2
    shot(page, "dashboard")
    page.set_viewport_size(MOBILE)
    shot(page, "dashboard-mobile")


def test_modal_tabs_and_mobile_layout(page, shot):
    page.set_viewport_size(MOBILE)
    page.goto("/")
    shot(page, "home-mobile")
    open_modal(page, "signin")
    page.get_by_role("tab", name="Forgot PIN").click()
    assert page.get_by_role("button", name="Email me a link").is_visible()
    shot(page, "modal-forgot-mobile")


def test_wrong_pin_shows_the_error_and_the_sixth_is_throttled(page, shot):
    UserFactory(email="m@example.com")
    page.goto("/")
    dialog = open_modal(page, "signin")
    dialog.get_by_label("Email").fill("m@example.com")
    dialog.get_by_label("PIN").fill("9371")
    dialog.get_by_role("button", name="Sign in").click()
    error = page.get_by_test_id("form-error")
    assert "That email and PIN do not match an account." in error.inner_text()
    shot(page, "sign-in-wrong-pin")

    main = page.locator("main")  # the full sign-in page now (the modal is still in the DOM)
    for _ in range(4):
        main.get_by_label("PIN").fill("9371")
        with page.expect_navigation():
            main.get_by_role("button", name="Sign in").click()
        expect(page.get_by_test_id("form-error")).to_contain_text("do not match")
    # The sixth attempt within 15 minutes is refused, even with the right PIN.
    main.get_by_label("PIN").fill(DEFAULT_PIN)
    with page.expect_navigation():
        main.get_by_role("button", name="Sign in").click()
    throttled = page.get_by_test_id("throttled")
    assert "Too many wrong PINs" in throttled.inner_text()
    shot(page, "sign-in-throttled")
    page.set_viewport_size(MOBILE)
    shot(page, "sign-in-throttled-mobile")
