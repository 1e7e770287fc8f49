import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from downloads import ads, selectors, services
from downloads.models import DownloadJob, FreeAllowance, JobStatus
from tests.factories import UserFactory, fund, make_songs
from wallet.models import Hold, HoldStatus
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db
SECRET = "test-ad-network-secret"


def ad_token(user, *, issued_at=None, nonce=None, secret=SECRET, user_ref=None):
    claims = ads.AdClaims(
        nonce=nonce or secrets.token_urlsafe(16),
        user_ref=user_ref or selectors.ad_user_ref(user_id=user.pk),
        issued_at=int((issued_at or timezone.now()).timestamp()),
    )
    return ads.encode(claims=claims, secret=secret)


def test_three_free_downloads_then_credits(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "1.00")
    make_songs(5)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api(user).post("/api/start-download", {"requested_songs": 5, "use_free_downloads": True})
    assert resp.status_code == 202
    body = resp.json()
    assert (body["credits_required"], body["credits_after"], body["free_downloads_used"]) == (0.70, 0.30, 3)
    job = DownloadJob.objects.get(public_id=body["job_id"])
    assert job.status == JobStatus.COMPLETED and job.credits_charged == 70
    assert balance_for_user(user_id=user.pk).balance == 30
    assert selectors.free_downloads_remaining(user_id=user.pk) == 0
    assert selectors.total_songs_downloaded(user_id=user.pk) == 5  # free ones count too
    assert job.records.filter(free_tier=True, charged=0).count() == 3


def test_all_free_job_places_no_hold_and_needs_no_credits(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    make_songs(2)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api(user).post("/api/start-download", {"requested_songs": 2, "use_free_downloads": True})
    assert resp.status_code == 202 and resp.json()["credits_required"] == 0
    assert not Hold.objects.exists()
    assert DownloadJob.objects.get().status == JobStatus.COMPLETED
    assert selectors.free_downloads_remaining(user_id=user.pk) == 1


def test_free_downloads_are_not_spent_unless_asked(api):
    user = UserFactory()
    make_songs(1)
    resp = api(user).post("/api/start-download", {"requested_songs": 1})
    assert resp.status_code == 402
    assert selectors.free_downloads_remaining(user_id=user.pk) == 3


def test_failed_job_gives_free_downloads_back():
    user = UserFactory()
    fund(user, "1")
    make_songs(4)
    job = services.job_start(user=user, requested_songs=4, use_free_downloads=True).job
    assert selectors.free_downloads_remaining(user_id=user.pk) == 0
    services.job_fail(job_id=job.pk, reason="test")
    assert selectors.free_downloads_remaining(user_id=user.pk) == 3
    assert job.hold.__class__.objects.get(pk=job.hold_id).status == HoldStatus.RELEASED


def test_undelivered_songs_return_their_free_downloads():
    user = UserFactory()
    songs = make_songs(2)
    for s in songs:
        s.file.storage.delete(s.file.name)
    job = services.job_start(user=user, requested_songs=2, use_free_downloads=True).job
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.delivered_songs == 0 and selectors.free_downloads_remaining(user_id=user.pk) == 3


def test_ad_completion_grants_one_free_download(api):
    user = UserFactory()
    resp = api(user).post("/api/ads/complete", {"ad_token": ad_token(user)})
    assert resp.status_code == 200, resp.content
    assert resp.json()["free_downloads"] == 4 and resp.json()["ads_watched_today"] == 1


def test_reused_ad_token_is_refused(api):
    user = UserFactory()
    token = ad_token(user)
    assert api(user).post("/api/ads/complete", {"ad_token": token}).status_code == 200
    resp = api(user).post("/api/ads/complete", {"ad_token": token})
    assert resp.status_code == 409 and resp.json()["error"] == "ad_token_used"
    assert FreeAllowance.objects.get(user=user).remaining == 4


def tamper_signature(token: str) -> str:
    """Change the signature's last hex digit (always a change, unlike overwriting it)."""
    last = token[-1]
    return token[:-1] + ("1" if last == "0" else "0")


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda u: ad_token(u, secret="not-the-network"), "invalid_ad_token"),
        (lambda u: tamper_signature(ad_token(u)), "invalid_ad_token"),
        (lambda u: ad_token(u, user_ref="someone-else"), "invalid_ad_token"),
        (lambda u: ad_token(u, nonce="short"), "invalid_ad_token"),
        (lambda u: "garbage", "invalid_ad_token"),
        (lambda u: "a.b.c", "invalid_ad_token"),
        (lambda u: "é." + "0" * 64, "invalid_ad_token"),
        (lambda u: ad_token(u, issued_at=timezone.now() - timedelta(hours=1)), "ad_token_expired"),
        (lambda u: ad_token(u, issued_at=timezone.now() + timedelta(hours=1)), "ad_token_expired"),
    ],
)
def test_forged_or_expired_ad_tokens_are_refused(api, make, code):
    user = UserFactory()
    resp = api(user).post("/api/ads/complete", {"ad_token": make(user)})
    assert resp.status_code == 400 and resp.json()["error"] == code and resp.json()["message"]
    assert selectors.free_downloads_remaining(user_id=user.pk) == 3


def test_token_of_another_user_is_refused(api):
    alice, bob = UserFactory(), UserFactory()
    resp = api(bob).post("/api/ads/complete", {"ad_token": ad_token(alice)})
    assert resp.status_code == 400 and "another account" in resp.json()["message"]


def test_at_most_five_ad_grants_a_day(api):
    user = UserFactory()
    for _ in range(5):
        assert api(user).post("/api/ads/complete", {"ad_token": ad_token(user)}).status_code == 200
    resp = api(user).post("/api/ads/complete", {"ad_token": ad_token(user)})
    assert resp.status_code == 429 and resp.json()["error"] == "ad_daily_limit"
    assert selectors.free_downloads_remaining(user_id=user.pk) == 8


def test_ads_disabled_without_secret(api, settings):
    settings.ADS_HMAC_SECRET = ""
    user = UserFactory()
    resp = api(user).post("/api/ads/complete", {"ad_token": ad_token(user)})
    assert resp.status_code == 503 and resp.json()["error"] == "ads_unavailable"
