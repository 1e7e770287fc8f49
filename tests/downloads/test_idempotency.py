"""Issue 10, item 2: a committed download is never answered as a failure, and a retry with the
same Idempotency-Key gets the same job (or the same item delivery), charged once."""

import threading

import pytest
from django.db import connection
from django.test import Client

from downloads import services
from downloads.models import DownloadJob, DownloadRecord
from tests.dbfaults import database_fails_after
from tests.factories import UserFactory, fund, make_item, make_songs
from wallet.models import Hold, Transfer, TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def post(api, user, path, body, key=None):
    """POST as `user`, with an Idempotency-Key header when `key` is given."""
    from accounts.services import api_session_create

    _, token = api_session_create(user=user, ip=None, user_agent="t")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return Client().post(path, body, content_type="application/json", **headers)


def test_a_committed_job_is_answered_202_with_its_id_when_the_database_fails_after_commit(
    api, django_capture_on_commit_callbacks
):
    user = UserFactory()
    fund(user, "10.00")
    make_songs(3)
    with django_capture_on_commit_callbacks(), database_fails_after("downloads.services.job_start"):
        resp = api(user).post("/api/start-download", {"requested_songs": 3})
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["credits_required"] == 1.05 and body["credits_available"] == 10.00
    assert DownloadJob.objects.get(public_id=body["job_id"]).user_id == user.pk


def test_start_download_retried_with_the_same_key_returns_the_same_job_and_holds_once(
    api, django_capture_on_commit_callbacks
):
    user = UserFactory()
    fund(user, "10.00")
    make_songs(5)
    with django_capture_on_commit_callbacks():
        first = post(api, user, "/api/start-download", {"requested_songs": 3}, key="retry-me-1")
        again = post(api, user, "/api/start-download", {"requested_songs": 3}, key="retry-me-1")
    assert first.status_code == again.status_code == 202, (first.content, again.content)
    assert again.json() == first.json()
    assert DownloadJob.objects.filter(user=user).count() == 1
    assert Hold.objects.filter(account__user=user).count() == 1
    assert balance_for_user(user_id=user.pk).held == 105


def test_start_download_retry_after_the_job_ran_still_returns_the_same_job(api, django_capture_on_commit_callbacks):
    """Picking "the newest songs not yet downloaded" again would find none left: the retry must
    find the job by its key before choosing songs."""
    user = UserFactory()
    fund(user, "10.00")
    make_songs(2)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(api, user, "/api/start-download", {"requested_songs": 2}, key="k-after-run")
    assert DownloadJob.objects.get(public_id=first.json()["job_id"]).is_completed
    again = post(api, user, "/api/start-download", {"requested_songs": 2}, key="k-after-run")
    assert again.status_code == 202, again.content
    assert again.json() == first.json()
    assert balance_for_user(user_id=user.pk).balance == 1000 - 70


def test_start_download_same_key_different_body_is_409(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "10.00")
    make_songs(5)
    with django_capture_on_commit_callbacks():
        post(api, user, "/api/start-download", {"requested_songs": 3}, key="k1")
        other = post(api, user, "/api/start-download", {"requested_songs": 4}, key="k1")
    assert other.status_code == 409, other.content
    assert other.json()["error"] == "idempotency_conflict"
    assert DownloadJob.objects.filter(user=user).count() == 1


def test_start_download_keys_are_per_member(api, django_capture_on_commit_callbacks):
    alice, bob = UserFactory(), UserFactory()
    fund(alice, "10.00")
    fund(bob, "10.00")
    make_songs(3)
    with django_capture_on_commit_callbacks():
        a = post(api, alice, "/api/start-download", {"requested_songs": 3}, key="shared")
        b = post(api, bob, "/api/start-download", {"requested_songs": 3}, key="shared")
    assert a.status_code == b.status_code == 202
    assert a.json()["job_id"] != b.json()["job_id"]


@pytest.mark.parametrize("key", ["", "x" * 101, "caf\u00e9", "tab\there"])
def test_a_bad_idempotency_key_is_400(api, key):
    user = UserFactory()
    fund(user, "10.00")
    make_songs(3)
    resp = post(api, user, "/api/start-download", {"requested_songs": 1}, key=key)
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == "invalid_request"
    assert not DownloadJob.objects.filter(user=user).exists()


@pytest.mark.postgres  # real concurrency: SQLite locks the whole file ("database table is locked")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_with_one_key_make_one_job(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    user = UserFactory()
    fund(user, "10.00")
    make_songs(3)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def run():
        barrier.wait()
        try:
            results.append(services.job_start(user=user, requested_songs=3, idempotency_key="race"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2 and all(isinstance(r, services.JobStart) for r in results), results
    assert {r.job.pk for r in results} == {DownloadJob.objects.get(user=user).pk}
    assert Hold.objects.filter(account__user=user).count() == 1


# --- single items -------------------------------------------------------------------------------


def test_item_download_header_key_charges_once_and_returns_the_same_delivery(api):
    user = UserFactory()
    fund(user, "10.00")
    item = make_item()
    path = f"/api/items/{item.pk}/download"
    first = post(api, user, path, {}, key="item-k")
    again = post(api, user, path, {}, key="item-k")
    assert first.status_code == again.status_code == 200, (first.content, again.content)
    # The link is signed anew each time; the delivery behind it is the same one.
    strip = lambda body: {k: v for k, v in body.items() if k != "download_url"}  # noqa: E731
    assert strip(again.json()) == strip(first.json())
    assert DownloadRecord.objects.filter(user=user).count() == 1
    assert Transfer.objects.filter(kind=TransferKind.DOWNLOAD).count() == 1
    assert balance_for_user(user_id=user.pk).balance == 1000 - 35


def test_item_download_key_reused_for_another_item_is_409(api):
    user = UserFactory()
    fund(user, "10.00")
    one, two = make_item(), make_item()
    post(api, user, f"/api/items/{one.pk}/download", {}, key="item-k")
    other = post(api, user, f"/api/items/{two.pk}/download", {}, key="item-k")
    assert other.status_code == 409, other.content
    assert other.json()["error"] == "idempotency_conflict"


def test_item_download_header_and_body_key_must_agree(api):
    user = UserFactory()
    fund(user, "10.00")
    item = make_item()
    resp = post(api, user, f"/api/items/{item.pk}/download", {"idempotency_key": "a"}, key="b")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    same = post(api, user, f"/api/items/{item.pk}/download", {"idempotency_key": "a"}, key="a")
    assert same.status_code == 200


def test_item_download_answers_200_when_the_database_fails_after_the_charge(api):
    user = UserFactory()
    fund(user, "10.00")
    item = make_item()
    with database_fails_after("downloads.services.item_download"):
        resp = api(user).post(f"/api/items/{item.pk}/download", {})
    assert resp.status_code == 200, resp.content
    assert resp.json()["credits_available"] == 9.65
