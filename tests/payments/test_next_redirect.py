"""Issue 11 item 14: a `next` target from the request is followed only when it stays on this site."""

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from tests.factories import DEFAULT_PIN, UserFactory

pytestmark = pytest.mark.django_db

KEY = "0x" + "11" * 32


def link_wallet(client, next_url):
    challenge = client.post("/wallet/connect/", {"action": "challenge"}, HTTP_ACCEPT="application/json").json()
    signature = Account.sign_message(encode_defunct(text=challenge["message"]), private_key=KEY).signature.hex()
    address = Account.from_key(KEY).address.lower()
    return client.post(
        "/wallet/connect/",
        {"wallet_address": address, "signature": "0x" + signature.removeprefix("0x"), "next": next_url},
    )


@pytest.mark.parametrize(
    "target", ["https://evil.example/phish", "//evil.example/phish", "/\\evil.example", "javascript:alert(1)"]
)
def test_linking_a_wallet_never_redirects_off_site(client, target):
    client.force_login(UserFactory())
    response = link_wallet(client, target)
    assert response.status_code == 302
    assert response["Location"] == "/wallet/connect/"


def test_linking_a_wallet_follows_a_local_next(client):
    client.force_login(UserFactory())
    response = link_wallet(client, "/recharge/?method=e9th")
    assert response.status_code == 302
    assert response["Location"] == "/recharge/?method=e9th"


def test_sign_in_never_redirects_off_site(client):
    # allauth checks `next` with url_has_allowed_host_and_scheme (adapter.is_safe_url); kept so.
    user = UserFactory()
    response = client.post(
        "/accounts/login/?next=https://evil.example/", {"login": user.email, "password": DEFAULT_PIN}
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
