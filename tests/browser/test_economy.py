"""The staff economy page in a browser: staff with the permission see the charts and their
tables (English and Chinese, desktop and 390 px); a member without staff rights is refused."""

import pytest

from tests.browser.conftest import WIDTHS, signed_in_context
from tests.factories import UserFactory, staff
from tests.portal.test_economy import history  # noqa: F401 (the crafted November history)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_staff_sees_the_charts(browser, live_server, shot, history, lang):  # noqa: F811
    viewer = staff("portal.view_economy", email=f"books-{lang}@example.com")
    context = signed_in_context(browser, live_server, viewer, lang)
    page = context.new_page()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/admin/portal/economy/")
        charts = page.locator("svg.eco-chart[role=img]")
        assert charts.count() == 6
        assert page.locator("#revenue_by_day table tbody tr").count() == 30
        title = "Revenue by day" if lang == "en" else "每日收入"
        assert page.locator("#revenue_by_day h2").inner_text() == title
        assert page.locator("[data-testid=reconciled].eco-ok").count() == 1
        # The date fields hold the period whatever the language (type=date takes ISO dates only).
        assert page.locator("input[name=first]").input_value() != ""
        # Nothing wider than the screen at 390 px but the tables' own scrolling boxes.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        shot(page, f"economy-{lang}-{width}")
    context.close()


def test_member_is_refused(browser, live_server, shot):
    member = UserFactory(email="member@example.com")
    context = signed_in_context(browser, live_server, member)
    page = context.new_page()
    page.goto("/admin/portal/economy/")
    assert page.url.startswith(live_server.url + "/admin/login/")
    assert page.locator("svg.eco-chart").count() == 0
    shot(page, "economy-member-refused")
    context.close()


def test_staff_without_the_permission_is_refused(browser, live_server):
    context = signed_in_context(browser, live_server, staff(email="clerk@example.com"))
    page = context.new_page()
    response = page.goto("/admin/portal/economy/")
    assert response.status == 403
    assert page.locator("svg.eco-chart").count() == 0
    context.close()
