import io

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from downloads import dashboard, services
from downloads.models import DownloadJob, Item, JobStatus
from tests.factories import UserFactory, fund, make_item, make_songs
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def test_catalog_lists_searches_and_filters(client):
    make_item(title="Golden Harbor")
    make_item(title="Silent River")
    make_item(title="Scalper", kind="ea", verification="verified", symbol="XAUUSD", filename="s.ex4")
    make_item(title="Hidden EA", kind="ea", verification="pending", filename="h.ex4")
    page = client.get("/downloads/")
    assert page.status_code == 200
    for text in (b"Golden Harbor", b"Silent River", b"Scalper", b"0.35"):
        assert text in page.content
    assert b"Hidden EA" not in page.content
    assert b"Golden Harbor" in client.get("/downloads/?q=golden").content
    assert b"Silent River" not in client.get("/downloads/?q=golden").content
    assert b"Scalper" in client.get("/downloads/?q=XAUUSD").content
    eas = client.get("/downloads/?kind=ea").content
    assert b"Scalper" in eas and b"Golden Harbor" not in eas
    assert b"Nothing matches" in client.get("/downloads/?q=zzzz").content
    assert client.get("/downloads/?kind=<script>&page=abc").status_code == 200


def test_empty_catalog_has_an_empty_state(client):
    assert b"The catalog is empty" in client.get("/downloads/").content


def test_catalog_form_starts_one_job_and_the_job_page_shows_it(client, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "2.00")
    songs = make_songs(3)
    client.force_login(user)
    picked = {"item_ids": [s.pk for s in songs[:2]]}
    ask = client.post("/downloads/jobs/", picked)  # asks first: nothing held, no job
    assert ask.status_code == 200 and b'data-testid="spend-confirm"' in ask.content
    assert b"0.70" in ask.content and b"1.30" in ask.content and not DownloadJob.objects.exists()
    confirmed = picked | {"confirm": "1", "idempotency_key": "confirm-1"}
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/downloads/jobs/", confirmed)
        again = client.post("/downloads/jobs/", confirmed)  # a double submit: the same job
    job = DownloadJob.objects.get()
    assert again["Location"] == resp["Location"]
    assert resp.status_code == 302 and resp["Location"] == f"/downloads/jobs/{job.public_id}/"
    assert job.status == JobStatus.COMPLETED and job.credits_charged == 70
    page = client.get(resp["Location"])
    assert page.status_code == 200 and b"Your archive is ready" in page.content and b"0.70" in page.content
    assert b'http-equiv="refresh"' not in page.content  # finished: no more refreshing
    status = client.get(f"/downloads/jobs/{job.public_id}/status/").json()
    assert status["status"] == "completed" and status["percent"] == 100 and status["credits_available"] == "1.30"
    archive = client.get(status["download_url"].replace("http://testserver", ""))
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"


def test_unfinished_job_page_refreshes_without_js(client):
    user = UserFactory()
    fund(user, "2.00")
    make_songs(1)
    job = services.job_start(user=user, requested_songs=1).job  # on_commit not run: stays queued
    client.force_login(user)
    page = client.get(f"/downloads/jobs/{job.public_id}/")
    assert b'<noscript><meta http-equiv="refresh" content="2"></noscript>' in page.content
    other = UserFactory()
    client.force_login(other)
    assert client.get(f"/downloads/jobs/{job.public_id}/").status_code == 404
    assert client.get(f"/downloads/jobs/{job.public_id}/status/").status_code == 404


def test_newest_songs_option_and_form_errors(client, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "5.00")
    make_songs(3)
    client.force_login(user)
    assert client.post("/downloads/jobs/", {}).status_code == 400
    resp = client.post("/downloads/jobs/", {"newest": "10"})
    assert resp.status_code == 400 and b"Only 3 songs" in resp.content
    assert client.post("/downloads/jobs/", {"newest": "2"}).status_code == 200  # the question
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/downloads/jobs/", {"newest": "2", "confirm": "1"}).status_code == 302
    assert DownloadJob.objects.get().delivered_songs == 2


def test_insufficient_credits_page_message_links_to_recharge(client):
    user = UserFactory()
    fund(user, "0.50")
    songs = make_songs(3)
    client.force_login(user)
    ask = client.post("/downloads/jobs/", {"item_ids": [s.pk for s in songs]})
    assert ask.status_code == 200 and b'data-testid="shortfall"' in ask.content
    assert b"You are 0.55 Credits short" in ask.content and b'href="/recharge/"' in ask.content
    assert b"disabled" in ask.content and not DownloadJob.objects.exists()
    resp = client.post("/downloads/jobs/", {"item_ids": [s.pk for s in songs], "confirm": "1"})
    assert resp.status_code == 402
    assert b"You need 0.55 more Credits to download 3 songs" in resp.content
    assert not DownloadJob.objects.exists()


def test_item_page_unlock_flow_and_ea_details(client):
    user = UserFactory()
    fund(user, "20.00")
    ea = make_item(
        title="Gold Scalper",
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
    page = client.get(f"/downloads/items/{ea.pk}/")
    assert b"Verified by staff" in page.content and b"1.84" in page.content and b"12.50%" in page.content
    client.force_login(user)
    assert b"Unlock for 15.00" in client.get(f"/downloads/items/{ea.pk}/").content
    for ask in (client.get(f"/downloads/items/{ea.pk}/download/"), client.post(f"/downloads/items/{ea.pk}/download/")):
        assert ask.status_code == 200 and b"5.00 Credits" in ask.content  # balance after; nothing charged
    assert balance_for_user(user_id=user.pk).balance == 2000
    resp = client.post(f"/downloads/items/{ea.pk}/download/", {"confirm": "1"})
    assert resp.status_code == 302 and resp["Location"].startswith("/downloads/file/")
    assert client.get(resp["Location"]).status_code == 200
    assert balance_for_user(user_id=user.pk).balance == 500
    assert b"Download again (free)" in client.get(f"/downloads/items/{ea.pk}/").content
    assert client.post(f"/downloads/items/{ea.pk}/download/").status_code == 302  # unlocked: no question
    assert balance_for_user(user_id=user.pk).balance == 500
    poor = UserFactory()
    client.force_login(poor)
    ask = client.get(f"/downloads/items/{ea.pk}/download/")
    assert b"You are 15.00 Credits short" in ask.content and b'href="/recharge/"' in ask.content
    resp = client.post(f"/downloads/items/{ea.pk}/download/", {"confirm": "1"})
    assert resp.status_code == 402 and b"You are 15.00 Credits short" in resp.content


def test_dashboard_panel_has_history_and_redownload_links(client):
    user = UserFactory()
    fund(user, "5.00")
    item = make_item(title="Masterclass", kind="premium", price=100, pricing_mode="unlock")
    services.item_download(user=user, item_id=item.pk)
    request = RequestFactory().get("/dashboard/")
    request.user = user
    [panel] = dashboard.panels(request)
    assert panel.key == "downloads" and panel.template == "downloads/_panel_history.html"
    [row] = panel.context["download_rows"]
    assert row["redownload_url"].startswith("/downloads/file/")
    from django.template.loader import render_to_string

    html = render_to_string(panel.template, panel.context, request=request)
    assert "Masterclass" in html and "Download again" in html
    assert client.get(row["redownload_url"]).status_code == 200
    request.user = UserFactory()
    empty = render_to_string(panel.template, dashboard.panels(request)[0].context, request=request)
    assert "You have not downloaded anything yet" in empty


def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True  # seed_demo runs only there
    call_command("seed_demo", stdout=io.StringIO())
    songs = Item.objects.filter(kind="song").count()
    assert songs >= 100 and Item.objects.filter(kind="ea").count() >= 3
    snapshot = list(Item.objects.order_by("slug").values_list("slug", "sha256", "size"))
    call_command("seed_demo", stdout=io.StringIO())
    assert list(Item.objects.order_by("slug").values_list("slug", "sha256", "size")) == snapshot
    song = Item.objects.get(slug="demo-song-001")
    with song.file.open("rb") as f:
        assert f.read(4) == b"RIFF"


def test_a_metered_download_asks_then_charges_once_per_confirmation(client):
    user = UserFactory()
    fund(user, "1.00")
    song = make_songs(1)[0]
    client.force_login(user)
    ask = client.post(f"/downloads/items/{song.pk}/download/")
    assert ask.status_code == 200 and b"0.65 Credits" in ask.content
    assert balance_for_user(user_id=user.pk).balance == 100
    confirmed = {"confirm": "1", "idempotency_key": "one-click-guard"}
    first = client.post(f"/downloads/items/{song.pk}/download/", confirmed)
    second = client.post(f"/downloads/items/{song.pk}/download/", confirmed)
    assert first.status_code == second.status_code == 302
    assert balance_for_user(user_id=user.pk).balance == 65
    assert client.get("/downloads/items/999999/download/").status_code == 404
