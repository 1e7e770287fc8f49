"""Property tests on job charging: whatever is requested, free or missing, the money adds up."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from downloads import services
from downloads.models import DownloadJob, FreeAllowance
from tests.factories import UserFactory, fund, make_songs
from wallet.errors import InsufficientFunds
from wallet.models import Transfer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


@given(data=st.data())
def test_charge_for_is_delivered_minus_free_times_price(data):
    delivered = data.draw(st.integers(0, 500))
    free = data.draw(st.integers(0, 500))
    price = data.draw(st.integers(0, 10_000))
    free_used, amount = services.charge_for(delivered=delivered, free_songs=free, unit_price=price)
    assert 0 <= free_used <= min(delivered, free)
    assert amount == (delivered - free_used) * price and amount >= 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requested=st.integers(1, 8),
    missing=st.integers(0, 8),
    free=st.integers(0, 4),
    use_free=st.booleans(),
    credits=st.integers(0, 400),
)
def test_job_charges_exactly_delivered_times_price_and_releases_the_rest(requested, missing, free, use_free, credits):
    user = UserFactory()
    if credits:
        fund(user, str(credits / 100) if credits % 100 else str(credits // 100))
    FreeAllowance.objects.create(user=user, remaining=free)
    songs = make_songs(requested, prefix=f"u{user.pk}")
    for s in songs[: min(missing, requested)]:
        s.file.storage.delete(s.file.name)
    before = balance_for_user(user_id=user.pk).balance
    try:
        started = services.job_start(
            user=user, requested_songs=requested, item_ids=[s.pk for s in songs], use_free_downloads=use_free
        )
    except InsufficientFunds:
        free_cover = min(free, requested) if use_free else 0
        assert (requested - free_cover) * 35 > before
        assert not DownloadJob.objects.filter(user=user).exists()
        assert FreeAllowance.objects.get(user=user).remaining == free
        return
    services.job_run(job_id=started.job.pk)
    job = DownloadJob.objects.get(pk=started.job.pk)
    delivered = requested - min(missing, requested)
    free_used = min(delivered, job.free_songs)
    assert job.delivered_songs == delivered <= requested
    assert job.credits_charged == (delivered - free_used) * 35
    bal = balance_for_user(user_id=user.pk)
    assert bal.held == 0
    assert bal.balance == before - job.credits_charged
    assert Transfer.objects.filter(hold__isnull=False, hold_id=job.hold_id).count() == (1 if job.credits_charged else 0)
    assert FreeAllowance.objects.get(user=user).remaining == free - free_used
