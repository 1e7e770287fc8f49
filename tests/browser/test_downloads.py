import io
import zipfile
from decimal import Decimal

import pytest

from tests.browser.conftest import sign_in
from tests.factories import DEFAULT_PIN, UserFactory, fund, make_item, make_songs
from wallet.selectors import balance_for_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _downloads_setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def sign_in_to_catalog(page, user):
    sign_in(page, user.email, DEFAULT_PIN, next_path="/downloads/")
    page.wait_for_url("**/downloads/")


def test_job_for_several_songs_progress_archive_and_exact_charge(page, shot):
    user = UserFactory()
    fund(user, "5.00")
    songs = make_songs(6, prefix="Track")
    make_item(
        title="Gold Scalper Pro",
        kind="ea",
        verification="verified",
        price=1500,
        pricing_mode="unlock",
        platform="MT4",
        symbol="XAUUSD",
        timeframe="M15",
        profit_factor="1.84",
        max_drawdown_pct="12.50",
        filename="g.ex4",
    )
    sign_in_to_catalog(page, user)
    assert page.locator("#header-balance").inner_text() == "5.00"
    for song in songs[:4]:
        page.check(f"#pick-{song.pk}")
    page.uncheck("input[name=use_free_downloads]")
    assert page.locator("#pick-count").inner_text() == "4"
    shot(page, "downloads-catalog")
    page.get_by_test_id("start-job").click()
    assert page.get_by_test_id("spend-cost").inner_text() == "−1.40 Credits"  # asked first
    assert page.get_by_test_id("spend-after").inner_text() == "3.60 Credits"
    assert balance_for_user(user_id=user.pk).available_decimal == Decimal("5.00")
    shot(page, "downloads-job-confirm")
    page.get_by_test_id("confirm-spend").click()
    page.wait_for_url("**/downloads/jobs/job_*/")
    status = page.get_by_test_id("job-status")
    status.filter(has_text="Completed").wait_for()
    assert page.locator("#job-progress").get_attribute("aria-valuenow") == "100"
    assert page.get_by_test_id("job-charged").inner_text() == "1.40"
    shot(page, "downloads-job-complete")
    with page.expect_download() as info:
        page.get_by_test_id("download-archive").click()
    names = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read())).namelist()
    assert len(names) == 4
    assert balance_for_user(user_id=user.pk).balance_decimal == Decimal("5.00") - 4 * Decimal("0.35")
    page.reload()
    assert page.locator("#header-balance").inner_text() == "3.60"
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "downloads-job-mobile")
    page.goto("/downloads/")
    shot(page, "downloads-catalog-mobile")


def test_insufficient_credits_and_ea_page(page, shot):
    user = UserFactory()
    songs = make_songs(3, prefix="Poor")
    ea = make_item(
        title="Trend Rider",
        kind="ea",
        verification="verified",
        price=800,
        pricing_mode="unlock",
        platform="MT5",
        symbol="EURUSD",
        timeframe="H1",
        profit_factor="1.42",
        max_drawdown_pct="18.30",
        filename="t.ex5",
    )
    sign_in_to_catalog(page, user)
    for song in songs:
        page.check(f"#pick-{song.pk}")
    page.uncheck("input[name=use_free_downloads]")
    page.get_by_test_id("start-job").click()
    alert = page.get_by_test_id("shortfall")
    assert "You are 1.05 Credits short" in alert.inner_text()
    assert page.get_by_test_id("shortfall-buy").get_attribute("href") == "/recharge/"
    assert page.get_by_test_id("confirm-spend").is_disabled()
    shot(page, "downloads-insufficient")
    page.goto(f"/downloads/items/{ea.pk}/")
    assert "verified by staff" in page.get_by_test_id("verification").inner_text().lower()
    shot(page, "downloads-ea")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "downloads-ea-mobile")
    page.goto("/downloads/upload/")
    page.get_by_role("button", name="Submit for review").click()
    assert page.locator(".errorlist").count() >= 5
    shot(page, "downloads-upload-errors-mobile")
