"""Support reads a member's notifications in the admin (the sentence the member saw), and
nobody edits them there."""

import pytest
from django.utils import timezone

from portal.models import Notification, NotificationKind
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_see_a_members_notifications_as_the_member_read_them(admin_client):
    member = UserFactory(email="asks@example.com")
    note = Notification.objects.create(
        user=member,
        kind=NotificationKind.ADJUSTMENT,
        params={"amount": -250, "reason": "duplicate payment"},
        event_id=41,
        created_at=timezone.now(),
    )
    page = admin_client.get("/admin/portal/notification/?q=asks%40example.com").content.decode()
    assert "Staff deducted" in page and "duplicate payment" in page
    detail = admin_client.get(f"/admin/portal/notification/{note.pk}/change/")
    assert detail.status_code == 200
    assert b'name="kind"' not in detail.content  # shown, never a form field
    assert admin_client.get("/admin/portal/notification/add/").status_code == 403
    assert admin_client.post(f"/admin/portal/notification/{note.pk}/delete/").status_code == 403
    assert Notification.objects.filter(pk=note.pk).exists()
