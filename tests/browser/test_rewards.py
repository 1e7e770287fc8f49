import pytest

from tests.browser.conftest import sign_in
from tests.factories import DEFAULT_PIN, RewardFactory, UserFactory, forum_event, fund, verify_email

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_to_store(page, email):
    sign_in(page, email, DEFAULT_PIN, next_path="/rewards/")


def test_redeem_a_reward_in_the_modal_and_see_balance_and_badge(page, shot, settings):
    settings.REWARDS_LEADERBOARD_BACKEND = "sql"
    user = UserFactory(display_name="Demo Member")
    fund(user, "130.00")
    verify_email(user)  # events credit verified addresses only
    forum_event(user.email, "answer.accepted", "a1")  # +20 earned: ranked
    RewardFactory(
        name="Premium EA Access",
        slug="premium",
        price=10000,
        badge_label="Premium EA",
        description="Unlock access to exclusive EAs.",
    )
    RewardFactory(
        name="VIP Group Access", slug="vip", price=15000, kind="vip_group", description="Join VIP discussion groups."
    )
    RewardFactory(
        name="Founder's Badge", slug="founder", price=4000, stock=1, badge_label="Founder", description="Only one left."
    )
    sign_in_to_store(page, user.email)
    page.wait_for_url("**/rewards/")
    assert page.get_by_test_id("store-balance").inner_text() == "150.00"
    shot(page, "rewards-store")

    page.get_by_test_id("reward-premium").get_by_role("link", name="Redeem").click()
    dialog = page.locator("#redeem-modal")
    assert dialog.is_visible()
    assert page.locator("#redeem-reward-name").inner_text() == "Premium EA Access"
    assert page.locator("#redeem-after").inner_text() == "50.00"
    shot(page, "rewards-redeem-modal")
    page.get_by_test_id("confirm-redeem").click()

    page.wait_for_url("**/rewards/")
    assert "You redeemed Premium EA Access" in page.locator(".messages").inner_text()
    assert page.locator("#header-balance").inner_text() == "50.00"
    assert page.get_by_test_id("widget-balance").inner_text() == "50.00"
    assert "premium ea" in page.get_by_test_id("widget-badges").inner_text().lower()
    assert page.get_by_test_id("widget-rank").inner_text() == "#1"
    shot(page, "rewards-store-after")

    page.goto("/rewards/leaderboard/")
    assert "premium ea" in page.locator("table.leaderboard").inner_text().lower()
    shot(page, "rewards-leaderboard")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "rewards-leaderboard-mobile")
    page.goto("/rewards/")
    shot(page, "rewards-store-mobile")
    page.get_by_test_id("reward-founder").get_by_role("link", name="Redeem").click()
    shot(page, "rewards-redeem-modal-mobile")
    page.get_by_role("button", name="Cancel").click()
    assert not page.locator("#redeem-modal").is_visible()
    page.goto("/rewards/bounties/")
    shot(page, "rewards-bounties-mobile")
