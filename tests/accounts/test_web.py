import pytest
from allauth.usersessions.models import UserSession
from django.urls import reverse

from accounts.models import ApiSession, User
from tests.factories import DEFAULT_PIN, UserFactory, api_token, fund

pytestmark = pytest.mark.django_db


def test_sign_up_with_email_and_pin_signs_in(client):
    response = client.post(reverse("account_signup"), {"email": "New@Example.com", "password1": "58203"})
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    user = User.objects.get(email="new@example.com")
    assert user.check_password("58203")
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(
    ("pin", "message"),
    [("1234", b"most common"), ("0000", b"most common"), ("12a4", b"4 to 6 digits"), ("1234567", b"4 to 6 digits")],
)
def test_sign_up_refuses_bad_pins_clearly(client, pin, message):
    response = client.post(reverse("account_signup"), {"email": "new@example.com", "password1": pin})
    assert response.status_code == 200
    assert message in response.content
    assert not User.objects.exists()


def test_sign_up_with_a_taken_email_says_so(client):
    UserFactory(email="taken@example.com")
    response = client.post(reverse("account_signup"), {"email": "taken@example.com", "password1": "58203"})
    assert response.status_code == 200
    assert b"already exists" in response.content


def test_sign_in_and_out(client):
    user = UserFactory(email="m@example.com")
    response = client.post(reverse("login"), {"login": "m@example.com", "password": DEFAULT_PIN})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200
    assert UserSession.objects.filter(user=user).count() == 1
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_sign_in_page_says_a_non_pin_is_not_a_pin(client):
    response = client.post(reverse("account_login"), {"login": "m@example.com", "password": "abc"})
    assert b"4 to 6 digits" in response.content


def test_login_names_from_before_allauth_still_resolve():
    assert reverse("login") == reverse("account_login") == "/accounts/login/"
    assert reverse("logout") == reverse("account_logout")


def test_every_page_offers_the_auth_modal_with_page_fallbacks(client):
    page = client.get("/").content.decode()
    assert '<dialog class="modal" id="auth-modal"' in page
    assert 'href="/accounts/login/" data-auth-open="signin"' in page
    assert 'href="/accounts/signup/" data-auth-open="register"' in page
    for url in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        assert client.get(url).status_code == 200


def test_admin_sign_in_goes_through_the_same_protection(client):
    UserFactory(email="m@example.com", is_staff=True)
    for _ in range(5):
        client.post("/admin/login/", {"username": "m@example.com", "password": "9371"}, REMOTE_ADDR="10.2.2.2")
    client.post("/admin/login/", {"username": "m@example.com", "password": DEFAULT_PIN}, REMOTE_ADDR="10.2.2.2")
    assert "_auth_user_id" not in client.session  # throttled even with the right PIN


# --- dashboard --------------------------------------------------------------------------------


def test_dashboard_needs_sign_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dashboard_shows_balances_history_and_empty_states(client):
    user = UserFactory()
    fund(user, "45.50")
    client.force_login(user)
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert "45.50" in page
    assert 'data-testid="history"' in page
    assert "≈ 130 songs" in page
    assert "You have not downloaded anything yet" in page
    assert "No wallet linked" in page
    assert "Sign out of other sessions" in page


def test_dashboard_empty_history(client):
    client.force_login(UserFactory())
    page = client.get("/dashboard/").content.decode()
    assert 'data-testid="history-empty"' in page


def test_dashboard_pages_history(client):
    user = UserFactory()
    for n in range(25):
        fund(user, "1.00", key=f"f{n}")
    client.force_login(user)
    first = client.get("/dashboard/")
    assert first.context["page"].next_cursor
    assert len(first.context["page"].rows) == 20
    second = client.get("/dashboard/", {"cursor": first.context["page"].next_cursor})
    assert len(second.context["page"].rows) == 5
    assert client.get("/dashboard/", {"cursor": "garbage"}).status_code == 302


def test_dashboard_shows_the_other_apps_panels_instead_of_its_placeholders(client):
    client.force_login(UserFactory())
    page = client.get("/dashboard/").content.decode()
    # The downloads and payments apps contribute these panels (keys "downloads", "e9th_wallet"),
    # so the dashboard's own empty cards for them stay out.
    assert "You have not downloaded anything yet." in page
    assert "Your download history will appear here." not in page
    assert "No wallet linked yet. Connect one to pay with E9th stablecoin." in page
    assert "Link your E9th wallet to pay with stablecoins." not in page


def test_sign_out_of_other_sessions_ends_other_browsers_and_api_tokens(client, api):
    from django.test import Client

    user = UserFactory(email="m@example.com")
    other = Client()
    assert other.post("/accounts/login/", {"login": "m@example.com", "password": DEFAULT_PIN}).status_code == 302
    assert client.post("/accounts/login/", {"login": "m@example.com", "password": DEFAULT_PIN}).status_code == 302
    token = api_token(user)
    response = client.post(reverse("accounts:sign_out_others"), follow=True)
    assert b"Signed out of 1 other browser session and 1 app session" in response.content
    assert client.get("/dashboard/").status_code == 200  # this one stays
    assert other.get("/dashboard/").status_code == 302
    assert api("/users/balance", token=token).status_code == 401
    assert not ApiSession.objects.filter(revoked_at__isnull=True).exists()


def test_header_shows_the_live_balance(client):
    user = UserFactory()
    fund(user, "12.30")
    client.force_login(user)
    page = client.get("/").content.decode()
    assert '<span id="header-balance" data-live="balance">12.30</span>' in page
