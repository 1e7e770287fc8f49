"""Real concurrency on PostgreSQL: threads, each with its own connection."""

import threading

import pytest
from django.db import connection

from downloads import selectors, services
from downloads.errors import AdDailyLimit, AdTokenUsed
from downloads.models import DownloadJob, Unlock
from tests.downloads.test_free_tier import ad_token
from tests.factories import UserFactory, fund, make_item, make_songs
from wallet.errors import InsufficientFunds
from wallet.models import Hold, Transfer
from wallet.selectors import balance_for_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(fn, n):
    barrier = threading.Barrier(n)
    results = []

    def run(i):
        try:
            barrier.wait()
            results.append(fn(i))
        except Exception as exc:  # collected and asserted on by the test
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_jobs_at_once_with_credits_for_one_get_exactly_one_hold(settings):
    user = UserFactory()
    fund(user, "1.00")  # two songs (0.70) fit once, not twice
    make_songs(4)
    results = race(lambda i: services.job_start(user=user, requested_songs=2), 2)
    started = [r for r in results if isinstance(r, services.JobStart)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(started) == 1 and len(refused) == 1, results
    assert Hold.objects.count() == 1 and DownloadJob.objects.count() == 1
    # The eager task ran after commit: the one job completed and was charged once.
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held) == (30, 0)


def test_concurrent_free_download_spending_never_goes_below_zero():
    user = UserFactory()
    fund(user, "10.00")
    make_songs(8)
    results = race(lambda i: services.job_start(user=user, requested_songs=2, use_free_downloads=True), 4)
    started = [r for r in results if isinstance(r, services.JobStart)]
    assert len(started) == 4 and sum(s.job.free_songs for s in started) == 3, results
    assert selectors.free_downloads_remaining(user_id=user.pk) == 0


def test_concurrent_ad_grants_respect_the_daily_cap_and_single_use(settings):
    settings.ADS_HMAC_SECRET = "test-ad-network-secret"
    user = UserFactory()
    tokens = [ad_token(user) for _ in range(8)]
    results = race(lambda i: services.ad_complete(user=user, token=tokens[i]), 8)
    assert sum(1 for r in results if isinstance(r, AdDailyLimit)) == 3
    assert selectors.free_downloads_remaining(user_id=user.pk) == 3 + 5
    results = race(lambda i: services.ad_complete(user=user, token=tokens[0]), 3)
    assert all(isinstance(r, AdTokenUsed | AdDailyLimit) for r in results), results


def test_concurrent_unlocks_charge_once(settings):
    user = UserFactory()
    fund(user, "10.00")
    item = make_item(kind="premium", price=300, pricing_mode="unlock")
    results = race(lambda i: services.item_download(user=user, item_id=item.pk), 4)
    assert all(isinstance(r, services.ItemDelivery) for r in results), results
    assert sum(r.charged for r in results) == 300
    assert Unlock.objects.count() == 1 and Transfer.objects.filter(kind="download").count() == 1
    assert balance_for_user(user_id=user.pk).balance == 700


def test_concurrent_metered_retries_with_one_key_charge_once():
    user = UserFactory()
    fund(user, "10.00")
    song = make_item()
    results = race(lambda i: services.item_download(user=user, item_id=song.pk, idempotency_key="k1"), 4)
    assert all(isinstance(r, services.ItemDelivery) for r in results), results
    assert len({r.link_id for r in results}) == 1
    assert balance_for_user(user_id=user.pk).balance == 965


def test_job_run_twice_at_once_charges_once():
    user = UserFactory()
    fund(user, "5.00")
    make_songs(5)
    job = services.job_start(user=user, requested_songs=5).job
    results = race(lambda i: services.job_run(job_id=job.pk), 2)
    assert not [r for r in results if isinstance(r, Exception)], results
    job.refresh_from_db()
    assert job.status == "completed" and job.credits_charged == 175
    assert Transfer.objects.filter(hold_id=job.hold_id).count() == 1
    assert balance_for_user(user_id=user.pk).balance == 325


def test_job_start_and_job_fail_for_one_member_at_once_do_not_deadlock(monkeypatch):
    """Issue 11 item 19: a start locks the free allowance, then the account (its hold); a fail
    used to lock the account (hold release), then the allowance (refund). Interleaved, each
    waited for the other's row and PostgreSQL killed one as a deadlock."""
    from downloads import handlers
    from downloads.services import jobs
    from wallet import services as wallet

    monkeypatch.setattr(handlers.run_download_job, "delay", lambda *a, **k: None)  # jobs stay queued
    user = UserFactory()
    fund(user, "10.00")
    make_songs(8)
    first = services.job_start(user=user, requested_songs=5, use_free_downloads=True).job
    assert first.free_songs == 3 and first.hold_id
    allowance_locked, account_locked = threading.Event(), threading.Event()
    spend_free, hold_release = jobs._spend_free, wallet.hold_release

    def spend_free_then_pause(**kwargs):
        free = spend_free(**kwargs)
        allowance_locked.set()
        account_locked.wait(3)  # bounded: after the fix the fail waits for this transaction
        return free

    def release_then_signal(**kwargs):
        released = hold_release(**kwargs)
        account_locked.set()
        return released

    monkeypatch.setattr(jobs, "_spend_free", spend_free_then_pause)
    monkeypatch.setattr(wallet, "hold_release", release_then_signal)
    results: dict[str, object] = {}

    def run(name, fn):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '10s'")  # a hang ends as an error, not a stuck run
            results[name] = fn()
        except Exception as exc:  # collected and asserted on below
            results[name] = exc
        finally:
            connection.close()

    start = threading.Thread(
        target=run, args=("start", lambda: services.job_start(user=user, requested_songs=2, use_free_downloads=True))
    )
    start.start()
    assert allowance_locked.wait(10)
    fail = threading.Thread(target=run, args=("fail", lambda: services.job_fail(job_id=first.pk, reason="test")))
    fail.start()
    for t in (start, fail):
        t.join(30)
        assert not t.is_alive()
    assert isinstance(results["start"], services.JobStart), results
    assert isinstance(results["fail"], DownloadJob) and results["fail"].status == "failed", results
    assert selectors.free_downloads_remaining(user_id=user.pk) == 3 - results["start"].job.free_songs
    assert balance_for_user(user_id=user.pk).held == results["start"].credits_required
