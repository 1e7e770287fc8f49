"""The dashboard's balance card splits paid from promotional credits (issue 13) and links the
member's settings page (issue 12)."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory, fund
from wallet import services as wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    user = UserFactory()
    fund(user, "10.00")
    return user


def test_the_dashboard_shows_paid_and_promotional_credits_and_links_the_settings(client, member):
    wallet.transfer_post(
        from_account=wallet.system_account(name="issuance"),
        to_account=wallet.user_account(user_id=member.pk),
        amount=300,
        kind="adjustment",
        idempotency_key="welcome-2",
        credit_source="welcome",
    )
    client.force_login(member)
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert "10.00 paid · 3.00 promotional" in page  # fund() is a purchase; the grant is promotional
    assert reverse("accounts:settings") in page
