import pytest


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ADS_HMAC_SECRET = "test-ad-network-secret"
    settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX = ""


@pytest.fixture
def api(client):
    """`api(user)` → a function posting/getting JSON with that user's bearer token."""
    from accounts.services import api_session_create

    def make(user):
        _, token = api_session_create(user=user, ip=None, user_agent="t")
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

        class Caller:
            def post(self, path, data=None):
                return client.post(path, data or {}, content_type="application/json", **headers)

            def get(self, path):
                return client.get(path, **headers)

        return Caller()

    return make


@pytest.fixture(autouse=True)
def _currency_after_flush(request):
    """Transactional tests flush every table after they run, the currency row from wallet's data
    migration included; put it back so the next test starts from what `migrate` leaves."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    from django.conf import settings as dj

    from wallet.models import Currency

    Currency.objects.get_or_create(
        code=dj.GOLDBOOK_CURRENCY_CODE,
        defaults={"name": dj.GOLDBOOK_CURRENCY_NAME, "decimal_places": dj.GOLDBOOK_CURRENCY_DECIMALS},
    )
