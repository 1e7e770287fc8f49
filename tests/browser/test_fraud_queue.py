"""The fraud review queue (issue 13) in a browser: a reviewer sees a crafted signal with its
evidence and holds a member (English, zh-hans, 390 px); the held member reads why on the site;
members and staff without the permission are refused."""

import pytest

from tests.browser.conftest import WIDTHS, signed_in_context
from tests.factories import UserFactory, staff
from tests.portal.test_fraud_signals import WALLET, pay
from wallet.selectors import member_on_hold

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = "/admin/review-queue/"


def test_a_reviewer_holds_a_member_from_the_queue(browser, live_server, shot):
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    pay(alice, 2500, wallet_address=WALLET)
    pay(bob, 5000, wallet_address=WALLET)
    reviewer = staff("wallet.review_fraud", "accounts.view_user", "wallet.view_memberhold", email="rev@example.com")
    for lang in ("en", "zh"):
        context = signed_in_context(browser, live_server, reviewer, lang)
        page = context.new_page()
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(QUEUE)
            signal = page.get_by_test_id("fraud-signal").first
            assert WALLET in signal.inner_text() and "alice@example.com" in signal.inner_text()
            assert page.locator("h1").inner_text() == ("Fraud review queue" if lang == "en" else "欺诈审查队列")
            shot(page, f"fraud-queue-{lang}-{width}")
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 1, f"the queue scrolls sideways at {width}px ({lang}) by {wide}px"
        context.close()

    context = signed_in_context(browser, live_server, reviewer, "en")
    page = context.new_page()
    page.goto(QUEUE)
    signal = page.get_by_test_id("fraud-signal").first
    signal.locator("select[name=user_id]").select_option(label="alice@example.com")
    signal.locator("textarea[name=reason]").fill("Card reported stolen")
    signal.get_by_role("button", name="Hold member").click()
    assert "is on hold." in page.locator("li.success").inner_text()
    assert "alice@example.com" in page.get_by_test_id("held-member").inner_text()
    shot(page, "fraud-queue-held")
    assert member_on_hold(user_id=alice.pk) and not member_on_hold(user_id=bob.pk)
    page.goto(f"/admin/accounts/user/{alice.pk}/change/")
    assert "Card reported stolen" in page.content()
    shot(page, "fraud-member-hold-history")
    context.close()

    for lang in ("en", "zh"):  # what the held member reads
        context = signed_in_context(browser, live_server, alice, lang)
        page = context.new_page()
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/")
        banner = page.get_by_test_id("on-hold-banner")
        assert ("on hold for review" if lang == "en" else "冻结") in banner.inner_text()
        shot(page, f"fraud-member-banner-{lang}-390")
        context.close()


def test_members_and_staff_without_the_permission_are_refused(browser, live_server, shot):
    pay(UserFactory(), 2500, wallet_address=WALLET)
    pay(UserFactory(), 2500, wallet_address=WALLET)
    member = UserFactory(email="member@example.com")
    context = signed_in_context(browser, live_server, member, "en")
    page = context.new_page()
    page.goto(QUEUE)
    assert "/admin/login/" in page.url
    assert page.get_by_test_id("fraud-queue").count() == 0 and WALLET not in page.content()
    shot(page, "fraud-queue-refused-member")
    context.close()
    context = signed_in_context(browser, live_server, staff(email="helpdesk@example.com"), "zh")
    page = context.new_page()
    response = page.goto(QUEUE)
    assert response.status == 403 and WALLET not in page.content()
    shot(page, "fraud-queue-refused-staff-zh")
    context.close()
