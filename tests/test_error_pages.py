"""Branded 400, 403, 404 and 500 pages (with DEBUG off, as in production): the site's header, the
status, what happened and a way back; the 500 page renders without the database."""

import pytest
from django.db import connections
from django.test import Client

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.site_error_urls")]


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/no-such-page/", 404, "Page not found"),
        ("/test-errors/403/", 403, "You cannot open this page"),
        ("/test-errors/400/", 400, "Request not accepted"),
        ("/test-errors/500/", 500, "Something went wrong on our side"),
    ],
)
def test_each_error_is_a_branded_page_with_a_way_back(client, settings, path, status, heading):
    settings.DEBUG = False
    response = client.get(path)
    assert response.status_code == status
    html = response.content.decode()
    assert f'data-status="{status}"' in html
    assert f"<h1>{heading}</h1>" in html
    assert 'class="site-header"' in html and f">{settings.GOLDBOOK_SITE_NAME}</a>" in html
    assert 'href="/">Back to the home page</a>' in html
    assert 'id="main-menu"' in html  # the main menu, as on every page


def test_a_signed_in_member_keeps_their_header_on_a_404(client, settings):
    settings.DEBUG = False
    client.force_login(UserFactory())
    html = client.get("/no-such-page/").content.decode()
    assert 'data-testid="header-balance"' in html and "Your dashboard" in html


def test_the_500_page_needs_no_database(client, settings, monkeypatch):
    settings.DEBUG = False

    def no_database(*args, **kwargs):
        raise AssertionError("the 500 page queried the database")

    monkeypatch.setattr(connections["default"], "cursor", no_database)
    response = client.get("/test-errors/500/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_error_pages_follow_the_language(client, settings):
    settings.DEBUG = False
    html = client.get("/no-such-page/", headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert 'lang="zh-hans"' in html
    assert "<h1>页面不存在</h1>" in html and "返回首页" in html
    html = client.get("/test-errors/500/", headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert "我们这边出了点问题" in html


def test_a_form_without_its_csrf_token_gets_the_branded_page(settings):
    settings.DEBUG = False
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>This form has expired</h1>" in html and 'class="site-header"' in html
