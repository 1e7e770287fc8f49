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
