from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Group

from downloads import links, selectors
from downloads.models import DownloadRecord, Unlock
from tests.factories import UserFactory, fund, make_item
from wallet.models import Transfer, TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return url.replace("http://testserver", "")


def test_metered_item_charges_every_download(api, client):
    user = UserFactory()
    fund(user, "1.00")
    song = make_item(content=b"hello song")
    for expected in (65, 30):
        resp = api(user).post(f"/api/items/{song.pk}/download")
        assert resp.status_code == 200, resp.content
        assert resp.json()["credits_charged"] == 0.35 and resp.json()["unlocked"] is False
        assert balance_for_user(user_id=user.pk).balance == expected
    assert Transfer.objects.filter(kind=TransferKind.DOWNLOAD).count() == 2
    file = client.get(path_of(resp.json()["download_url"]))
    assert file.status_code == 200 and b"".join(file.streaming_content) == b"hello song"
    assert file["Cache-Control"] == "private, no-store"
    assert "attachment" in file["Content-Disposition"]
    resp = api(user).post(f"/api/items/{song.pk}/download")
    assert resp.status_code == 402 and resp.json()["credits_needed"] == 0.05
    assert selectors.total_songs_downloaded(user_id=user.pk) == 2
    record = DownloadRecord.objects.filter(transfer__isnull=False).first()
    assert record.history_fields(record.transfer) == {"songs_downloaded": 1, "subject": record.item.title}


def test_metered_retry_with_same_idempotency_key_charges_once(api):
    user = UserFactory()
    fund(user, "1.00")
    song = make_item()
    first = api(user).post(f"/api/items/{song.pk}/download", {"idempotency_key": "abc-1"}).json()
    again = api(user).post(f"/api/items/{song.pk}/download", {"idempotency_key": "abc-1"}).json()
    assert balance_for_user(user_id=user.pk).balance == 65
    assert first["credits_charged"] == again["credits_charged"] == 0.35
    api(user).post(f"/api/items/{song.pk}/download", {"idempotency_key": "abc-2"})
    assert balance_for_user(user_id=user.pk).balance == 30


def test_unlock_charges_once_then_free_forever(api):
    user = UserFactory()
    fund(user, "5.00")
    ea = make_item(kind="premium", price=300, pricing_mode="unlock", filename="guide.pdf")
    first = api(user).post(f"/api/items/{ea.pk}/download").json()
    assert first["credits_charged"] == 3.00 and first["unlocked"] is True
    second = api(user).post(f"/api/items/{ea.pk}/download").json()
    assert second["credits_charged"] == 0
    assert balance_for_user(user_id=user.pk).balance == 200
    assert Unlock.objects.count() == 1 and DownloadRecord.objects.count() == 1


def test_unlock_race_lost_at_the_unique_index_is_free(api):
    """If another request unlocked the item first, the loser's insert fails and nothing is charged."""
    user = UserFactory()
    fund(user, "5.00")
    item = make_item(kind="premium", price=300, pricing_mode="unlock")
    api(user).post(f"/api/items/{item.pk}/download")
    with mock.patch("downloads.services.items.Unlock.objects.filter") as f:
        f.return_value.first.return_value = None  # pretend we did not see the earlier unlock
        resp = api(user).post(f"/api/items/{item.pk}/download")
    assert resp.status_code == 200 and resp.json()["credits_charged"] == 0
    assert balance_for_user(user_id=user.pk).balance == 200


def test_unknown_inactive_and_members_only_items(api):
    user = UserFactory()
    fund(user, "5.00")
    assert api(user).post("/api/items/999999/download").status_code == 404
    assert api(user).post(f"/api/items/{2**70}/download").status_code in (400, 404)
    inactive = make_item(is_active=False)
    assert api(user).post(f"/api/items/{inactive.pk}/download").status_code == 404
    pending_ea = make_item(kind="ea", verification="pending")
    assert api(user).post(f"/api/items/{pending_ea.pk}/download").status_code == 404
    group = Group.objects.create(name="Premium members")
    premium = make_item(kind="premium", access_group=group, price=0, pricing_mode="unlock")
    resp = api(user).post(f"/api/items/{premium.pk}/download")
    assert resp.status_code == 403 and resp.json()["error"] == "members_only"
    user.groups.add(group)
    assert api(user).post(f"/api/items/{premium.pk}/download").status_code == 200
    assert balance_for_user(user_id=user.pk).balance == 500


def test_free_item_makes_a_record_without_a_transfer(api):
    user = UserFactory()
    item = make_item(kind="premium", price=0)
    resp = api(user).post(f"/api/items/{item.pk}/download")
    assert resp.status_code == 200 and resp.json()["credits_charged"] == 0
    assert DownloadRecord.objects.get().transfer is None and not Transfer.objects.exists()


def test_signed_links_are_bound_to_the_user_and_expire(api, client, settings):
    owner, other = UserFactory(), UserFactory()
    fund(owner, "1")
    song = make_item()
    url = path_of(api(owner).post(f"/api/items/{song.pk}/download").json()["download_url"])
    assert client.get(url).status_code == 200  # no session: the token carries the binding
    client.force_login(other)
    assert client.get(url).status_code == 404  # someone else's session
    client.force_login(owner)
    assert client.get(url).status_code == 200
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert client.get(url.replace(token, token[:-3] + "abc")).status_code == 404  # tampered
    forged = links.url(user_id=other.pk, kind="rec", object_id=DownloadRecord.objects.get().pk)
    client.force_login(other)
    assert client.get(forged).status_code == 404  # a real signature over someone else's record
    client.force_login(owner)
    with mock.patch("django.core.signing.time.time", return_value=__import__("time").time() + 3600):
        assert client.get(url).status_code == 404  # expired
    owner.is_active = False
    owner.save()
    client.logout()
    assert client.get(url).status_code == 404


def test_x_accel_redirect_in_production(api, client, settings):
    settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX = "/protected/"
    user = UserFactory()
    fund(user, "1")
    song = make_item(filename="tune.wav")
    resp = client.get(path_of(api(user).post(f"/api/items/{song.pk}/download").json()["download_url"]))
    assert resp.status_code == 200 and resp.content == b""
    assert resp["X-Accel-Redirect"] == "/protected/" + song.file.name
    assert resp["Content-Disposition"].startswith("attachment;")


def test_files_live_under_random_private_names():
    a, b = make_item(filename="same.wav"), make_item(filename="same.wav")
    assert a.file.name != b.file.name and a.file.name.startswith("downloads/song/")
    assert len(a.file.name.split("/")[2]) == 32  # uuid4 hex directory


def test_link_max_age_setting(settings):
    settings.DOWNLOADS_LINK_MAX_AGE = 60
    token = links.sign(user_id=1, kind="job", object_id=2)
    assert links.verify(token) == links.LinkClaim(user_id=1, kind="job", object_id=2)
    assert links.verify("x" * 500) is None
    assert timedelta(seconds=settings.DOWNLOADS_LINK_MAX_AGE) < timedelta(hours=1)
