import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_and_sign_in_page_render_in_chromium(page, shot):
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Buy, earn and spend")
    shot(page, "home")
    page.get_by_role("link", name="Sign in").first.click()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "sign-in-mobile")
