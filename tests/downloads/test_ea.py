import io

import pytest
from django.contrib.admin.sites import site
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from downloads import services
from downloads.errors import UploadQuotaExceeded, VerificationError
from downloads.models import Item, Verification
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db


def upload_data(**overrides):
    data = {
        "title": "Gold Scalper",
        "description": "Scalps gold.",
        "platform": "MT4",
        "symbol": "xauusd",
        "timeframe": "M15",
        "backtest_start": "2023-01-01",
        "backtest_end": "2024-01-01",
        "profit_factor": "1.75",
        "max_drawdown_pct": "12.5",
        "price": "15.00",
        "pricing_mode": "unlock",
    }
    data.update(overrides)
    return data


def ea_file(name="scalper.ex4", content=b"\x00EA-binary" * 10):
    return SimpleUploadedFile(name, content)


def test_member_uploads_an_ea_that_waits_for_review(client):
    member = UserFactory()
    client.force_login(member)
    resp = client.post(
        "/downloads/upload/",
        upload_data() | {"file": ea_file(), "report_file": SimpleUploadedFile("report.html", b"<h1>PF 1.75</h1>")},
    )
    assert resp.status_code == 302
    item = Item.objects.get()
    assert (item.kind, item.verification, item.uploader, item.symbol, item.price) == (
        "ea",
        Verification.PENDING,
        member,
        "XAUUSD",
        1500,
    )
    assert item.size == 100 and len(item.sha256) == 64 and item.report_file.name.endswith("report.html")
    assert not item.is_listed
    page = client.get(f"/downloads/items/{item.pk}/")
    assert page.status_code == 200 and b"Awaiting review" in page.content
    client.force_login(UserFactory())
    assert client.get(f"/downloads/items/{item.pk}/").status_code == 404  # others cannot see it yet


@pytest.mark.parametrize(
    "overrides, files, field",
    [
        ({}, {"file": ea_file("virus.exe")}, "file"),
        ({}, {"file": ea_file("fake.zip", b"not a zip")}, "file"),
        ({}, {"file": ea_file(), "report_file": SimpleUploadedFile("r.js", b"x")}, "report_file"),
        ({"symbol": "EUR/USD!"}, {"file": ea_file()}, "symbol"),
        ({"backtest_end": "2022-01-01"}, {"file": ea_file()}, "backtest_end"),
        ({"backtest_end": "2999-01-01"}, {"file": ea_file()}, "backtest_end"),
        ({"profit_factor": "-1"}, {"file": ea_file()}, "profit_factor"),
        ({"max_drawdown_pct": "140"}, {"file": ea_file()}, "max_drawdown_pct"),
        ({"price": "0.001"}, {"file": ea_file()}, "price"),
        ({}, {}, "file"),
    ],
)
def test_upload_validation(client, overrides, files, field):
    client.force_login(UserFactory())
    resp = client.post("/downloads/upload/", upload_data(**overrides) | files)
    assert resp.status_code == 400
    assert field in resp.context["form"].errors
    assert not Item.objects.exists()


def test_upload_size_limit(client, settings):
    settings.DOWNLOADS_UPLOAD_MAX_BYTES = 50
    client.force_login(UserFactory())
    resp = client.post("/downloads/upload/", upload_data() | {"file": ea_file(content=b"x" * 51)})
    assert resp.status_code == 400 and "limit" in str(resp.context["form"].errors["file"])


def test_upload_requires_sign_in(client):
    assert client.get("/downloads/upload/").status_code == 302


def test_ea_verify_lists_the_ea_and_emails_the_uploader(django_capture_on_commit_callbacks):
    uploader, staff = UserFactory(), UserFactory(is_staff=True)
    ea = make_item(kind="ea", verification="pending", uploader=uploader, filename="x.ex4")
    with django_capture_on_commit_callbacks(execute=True):
        item = services.ea_verify(item_id=ea.pk, staff_id=staff.pk)
    assert item.verification == Verification.VERIFIED and item.verified_by == staff and item.verified_at
    assert item.is_listed
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [uploader.email]
    assert "verified" in mail.outbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        services.ea_verify(item_id=ea.pk, staff_id=staff.pk)  # idempotent: no second email
    assert len(mail.outbox) == 1


def test_the_ea_decision_email_is_in_the_uploaders_language(django_capture_on_commit_callbacks):
    uploader, staff = UserFactory(language="zh-hans"), UserFactory(is_staff=True)
    ea = make_item(kind="ea", verification="pending", uploader=uploader, filename="y.ex4")
    with django_capture_on_commit_callbacks(execute=True):
        services.ea_verify(item_id=ea.pk, staff_id=staff.pk)
    assert "已通过审核" in mail.outbox[0].subject


def test_ea_decisions_are_told_as_events_in_their_transaction():
    from core.events import Event
    from core.models import OutboxEvent

    uploader, staff = UserFactory(), UserFactory(is_staff=True)
    ea = make_item(kind="ea", verification="pending", uploader=uploader, filename="x.ex4")
    services.ea_verify(item_id=ea.pk, staff_id=staff.pk)
    services.ea_verify(item_id=ea.pk, staff_id=staff.pk)  # the same decision again: no event
    services.ea_reject(item_id=ea.pk, staff_id=staff.pk)
    events = OutboxEvent.objects.filter(name=Event.EA_REVIEWED).order_by("id")
    assert [e.payload for e in events] == [
        {"item_id": ea.pk, "uploader_id": uploader.pk, "verified": True, "was_verified": False},
        {"item_id": ea.pk, "uploader_id": uploader.pk, "verified": False, "was_verified": True},
    ]
    staff_added = make_item(kind="ea", verification="pending", filename="y.ex4")
    services.ea_verify(item_id=staff_added.pk, staff_id=staff.pk)  # no uploader: nobody to tell
    assert OutboxEvent.objects.filter(name=Event.EA_REVIEWED).count() == 2


def test_ea_reject_hides_the_ea_with_a_note(django_capture_on_commit_callbacks):
    uploader, staff = UserFactory(), UserFactory(is_staff=True)
    ea = make_item(kind="ea", verification="pending", uploader=uploader, filename="x.ex4")
    with django_capture_on_commit_callbacks(execute=True):
        item = services.ea_reject(item_id=ea.pk, staff_id=staff.pk, note="Report does not match the file.")
    assert item.verification == Verification.REJECTED and not item.is_listed
    assert "Report does not match" in mail.outbox[0].body


def test_a_decision_email_queued_before_the_outbox_is_still_sent():
    from downloads.tasks import notify_ea_decision

    uploader = UserFactory()
    ea = make_item(kind="ea", verification="verified", uploader=uploader, filename="x.ex4")
    notify_ea_decision.apply(args=[ea.pk])
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [uploader.email]
    assert "verified" in mail.outbox[0].subject


def test_only_eas_are_verified():
    song = make_item()
    with pytest.raises(VerificationError):
        services.ea_verify(item_id=song.pk, staff_id=UserFactory(is_staff=True).pk)


def test_admin_actions_go_through_the_services(django_capture_on_commit_callbacks):
    staff = UserFactory(is_staff=True, is_superuser=True)
    ea = make_item(kind="ea", verification="pending", uploader=UserFactory(), filename="x.ex4")
    song = make_item()
    request = RequestFactory().post("/admin/")
    request.user = staff
    request.session = {}
    request._messages = __import__("django.contrib.messages.storage.fallback", fromlist=["x"]).FallbackStorage(request)
    admin = site._registry[Item]
    with django_capture_on_commit_callbacks(execute=True):
        admin.verify_eas(request, Item.objects.filter(pk__in=[ea.pk, song.pk]))
    ea.refresh_from_db()
    assert ea.verification == Verification.VERIFIED and ea.verified_by == staff
    assert len(mail.outbox) == 1


def test_admin_pages_render(admin_client):
    make_item(kind="ea", verification="pending", filename="x.ex4")
    for url in ("/admin/downloads/item/", "/admin/downloads/downloadjob/", "/admin/downloads/item/add/"):
        assert admin_client.get(url).status_code == 200


class CountingInput(io.BytesIO):
    """The request body as the server reads it: how far it got is `tell()`."""


def _multipart(files_and_fields):
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return encode_multipart(BOUNDARY, files_and_fields), MULTIPART_CONTENT


def test_oversized_upload_is_refused_while_streaming_not_after_reading_it(client, settings):
    """Issue 11 item 15: the size limit stops the read; the rest of the body is never consumed."""
    settings.DOWNLOADS_UPLOAD_MAX_BYTES = 100 * 1024
    client.force_login(UserFactory())
    body, content_type = _multipart(upload_data() | {"file": ea_file(content=b"x" * 1024 * 1024)})
    stream = CountingInput(body)
    resp = client.generic("POST", "/downloads/upload/", body, content_type, **{"wsgi.input": stream})
    assert resp.status_code == 400
    assert "limit" in str(resp.context["form"].errors["file"])
    assert stream.tell() < len(body) // 2  # refused long before the end of the body
    assert not Item.objects.exists()


def test_upload_that_streams_past_the_limit_stops_at_the_limit(client, settings):
    """A body whose Content-Length fits two files, but one file passes the cap mid-stream."""
    settings.DOWNLOADS_UPLOAD_MAX_BYTES = 300 * 1024
    client.force_login(UserFactory())
    body, content_type = _multipart(upload_data() | {"file": ea_file(content=b"x" * 500 * 1024)})
    stream = CountingInput(body)
    resp = client.generic("POST", "/downloads/upload/", body, content_type, **{"wsgi.input": stream})
    assert resp.status_code == 400 and "limit" in str(resp.context["form"].errors["file"])
    assert stream.tell() < 400 * 1024
    assert not Item.objects.exists()


def test_member_upload_quota(client, settings):
    settings.DOWNLOADS_UPLOAD_QUOTA_BYTES = 150
    member = UserFactory()
    client.force_login(member)
    assert client.post("/downloads/upload/", upload_data() | {"file": ea_file()}).status_code == 302  # 100 bytes
    resp = client.post("/downloads/upload/", upload_data(title="Two") | {"file": ea_file()})
    assert resp.status_code == 400 and "upload quota" in str(resp.context["form"].errors["file"])
    settings.DOWNLOADS_UPLOAD_QUOTA_BYTES = 100
    resp = client.post("/downloads/upload/", upload_data(title="Three") | {"file": ea_file(content=b"x")})
    assert resp.status_code == 400 and "may take up" in str(resp.context["form"].non_field_errors())
    assert Item.objects.count() == 1
    with pytest.raises(UploadQuotaExceeded):  # the service enforces it too
        services.ea_submit(uploader=member, **_submit_args())


def _submit_args():
    from decimal import Decimal

    form = upload_data()
    return {
        "title": "Direct",
        "description": "",
        "file": ea_file(content=b"x" * 10),
        "report_file": None,
        "price": Decimal("1"),
        "pricing_mode": "unlock",
        "platform": "MT4",
        "symbol": form["symbol"],
        "timeframe": "M15",
        "backtest_start": __import__("datetime").date(2023, 1, 1),
        "backtest_end": __import__("datetime").date(2024, 1, 1),
        "profit_factor": Decimal("1.5"),
        "max_drawdown_pct": Decimal("10"),
    }


def test_member_upload_rate_limit(client, settings):
    settings.DOWNLOADS_UPLOAD_RATE = "2/h"
    client.force_login(UserFactory())
    for n in range(2):
        assert client.post("/downloads/upload/", upload_data(title=f"EA {n}") | {"file": ea_file()}).status_code == 302
    resp = client.post("/downloads/upload/", upload_data(title="EA 3") | {"file": ea_file()})
    assert resp.status_code == 429 and "try again later" in str(resp.context["form"].non_field_errors())
    assert Item.objects.count() == 2
