"""A new owner adds a package in the admin: dollars and credits, a preview before saving, in
English and Chinese, on a desktop and a phone (issue 13)."""

import pytest

from payments.models import CreditPackage
from tests.browser.conftest import WIDTHS, signed_in_context
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PREVIEW = {"en": "Members pay $30.00, receive 40.00 Credits, 10.00 Credits of them bonus.", "zh": "会员支付 $30.00"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_package_is_typed_in_dollars_and_previewed(browser, live_server, shot, lang):
    owner = UserFactory(email=f"owner-{lang}@example.com", is_staff=True, is_superuser=True)
    context = signed_in_context(browser, live_server, owner, lang)
    page = context.new_page()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/admin/payments/creditpackage/add/")
        page.fill("input[name=name]", "Thirty")
        page.fill("input[name=usd_cents]", "30")
        page.fill("input[name=bonus_credits]", "10")
        page.click("input[name=_preview]")
        assert PREVIEW[lang] in page.locator("#preview").inner_text()
        assert page.input_value("input[name=usd_cents]") == "30"
        shot(page, f"admin-package-preview-{lang}-{width}")
    # With JavaScript, the preview follows what is typed (still without saving).
    page.fill("input[name=bonus_credits]", "15")
    page.wait_for_function("document.getElementById('preview').innerText.includes('45.00')")
    assert not CreditPackage.objects.filter(name="Thirty").exists()
    page.goto("/admin/payments/creditpackage/")
    shot(page, f"admin-packages-{lang}")
    context.close()
