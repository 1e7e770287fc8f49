import pytest

pytestmark = pytest.mark.django_db


def test_home_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"one wallet, one ledger" in response.content


def test_admin_login_page_renders(client):
    assert client.get("/admin/login/").status_code == 200


def test_openapi_document_is_served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Goldbook API"


def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True  # seed_demo runs only there
    from django.core.management import call_command

    from wallet.models import Entry, Transfer

    call_command("seed_demo")
    counts = (Transfer.objects.count(), Entry.objects.count())
    call_command("seed_demo")
    assert (Transfer.objects.count(), Entry.objects.count()) == counts


def test_api_docs_load_their_assets_from_our_static_files(client):
    page = client.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn." not in page.lower()
