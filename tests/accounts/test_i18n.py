"""Chinese and English, the member's time zone and their settings page (issue 12)."""

import datetime as dt
import json
import re

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from accounts.models import User
from tests.factories import DEFAULT_PIN, UserFactory

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
SETTINGS_URL = "/account/settings/"


def _settings_form(**changes: str) -> dict[str, str]:
    return {"display_name": "", "language": "", "time_zone": "", "display_currency": "USD", **changes}


# --- language ------------------------------------------------------------------------------------


def test_a_chinese_browser_gets_the_sign_in_page_in_chinese(client):
    page = client.get("/accounts/login/", **ZH)
    html = page.content.decode()
    assert page["Content-Language"] == "zh-hans"
    assert "<h1>登录</h1>" in html and "PIN 码" in html and "忘记 PIN 码" in html
    assert "Sign in</h1>" not in html


def test_an_english_browser_gets_english(client):
    html = client.get("/accounts/login/", **EN).content.decode()
    assert "<h1>Sign in</h1>" in html and "登录" not in html


@pytest.mark.parametrize(
    ("headers", "message"),
    [(ZH, "邮箱和 PIN 码不匹配任何账户。"), (EN, "That email and PIN do not match an account.")],
)
def test_api_message_follows_accept_language_and_the_error_code_stays_english(client, headers, message):
    UserFactory(email="m@example.com")
    body = json.dumps({"email": "m@example.com", "pin": "5820"})
    response = client.post("/api/users/login", body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    assert response.json()["message"].startswith(message)


def test_a_domain_error_default_message_is_translated_per_request(client):
    # core.jsonbody's InvalidBody: a class-level (lazy) default, read in each request's language.
    for headers, text in ((ZH, "请求"), (EN, "request body"), (ZH, "请求")):
        response = client.post("/api/users/login", "{bad", content_type="application/json", **headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert text in response.json()["message"]


@pytest.mark.parametrize(("saved", "browser", "heading"), [("en", ZH, "Your settings"), ("zh-hans", EN, "我的设置")])
def test_the_saved_language_beats_the_browsers(client, saved, browser, heading):
    user = UserFactory(language=saved)
    client.force_login(user)
    html = client.get(SETTINGS_URL, **browser).content.decode()
    assert f"<h1>{heading}</h1>" in html


def test_a_blank_saved_language_follows_the_browser(client):
    client.force_login(UserFactory(language=""))
    assert "<h1>我的设置</h1>" in client.get(SETTINGS_URL, **ZH).content.decode()
    assert "<h1>Your settings</h1>" in client.get(SETTINGS_URL, **EN).content.decode()


def test_the_switcher_sets_the_language_for_a_visitor_without_saving_anything(client):
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/accounts/login/"}, **EN)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert "<h1>登录</h1>" in client.get("/accounts/login/", **EN).content.decode()


def test_the_switcher_saves_a_signed_in_members_choice(client):
    user = UserFactory(language="")
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": SETTINGS_URL})
    user.refresh_from_db()
    assert user.language == "zh-hans"
    client.post(reverse("set_language"), {"language": "en", "next": SETTINGS_URL})
    user.refresh_from_db()
    assert user.language == "en"


def test_the_switcher_ignores_a_language_the_site_does_not_have(client):
    user = UserFactory(language="en")
    client.force_login(user)
    response = client.post(reverse("set_language"), {"language": "xx", "next": SETTINGS_URL})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "en"


def test_the_switcher_never_redirects_off_site(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil.example" not in response["Location"]


def test_every_page_has_the_switcher(client):
    html = client.get("/accounts/login/").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language" value="zh-hans"' in html and "简体中文" in html
    assert 'value="en"' not in html  # the page is in English already
    zh = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'name="language" value="en"' in zh and 'value="zh-hans"' not in zh


# --- time zone -----------------------------------------------------------------------------------

JOINED = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [("", "2026-01-01 08:00"), ("Asia/Shanghai", "2026-01-01 08:00"), ("America/New_York", "2025-12-31 19:00")],
)
def test_times_are_shown_in_the_members_zone_else_the_site_default(client, zone, shown):
    assert settings.GOLDBOOK_DEFAULT_TIME_ZONE == "Asia/Shanghai"
    client.force_login(UserFactory(time_zone=zone, date_joined=JOINED))
    html = client.get(SETTINGS_URL, **EN).content.decode()
    assert f"Member since {shown}" in html


def test_relative_times_are_in_the_readers_language(client):
    client.force_login(UserFactory(date_joined=JOINED))
    assert "ago" in client.get(SETTINGS_URL, **EN).content.decode()
    assert "前" in client.get(SETTINGS_URL, **ZH).content.decode()


# --- the settings page ---------------------------------------------------------------------------


def test_settings_need_a_signed_in_member(client):
    response = client.get(SETTINGS_URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_settings_show_the_current_choices_and_the_default_zone(client):
    client.force_login(UserFactory(display_name="Lin", display_currency="CNY"))
    html = client.get(SETTINGS_URL, **EN).content.decode()
    assert 'value="Lin"' in html
    assert '<option value="CNY" selected>' in html
    assert "Site default (Asia/Shanghai)" in html
    assert '<option value="Europe/Berlin">' in html
    assert "Follow my browser" in html and "简体中文" in html


def test_settings_save_then_redirect_with_a_message(client):
    user = UserFactory()
    client.force_login(user)
    form = _settings_form(
        display_name="小林 Lin", language="zh-hans", time_zone="Europe/Berlin", display_currency="EUR"
    )
    response = client.post(SETTINGS_URL, form)
    assert response.status_code == 302 and response["Location"] == SETTINGS_URL
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    user.refresh_from_db()
    assert (user.display_name, user.language, user.time_zone, user.display_currency) == (
        "小林 Lin",
        "zh-hans",
        "Europe/Berlin",
        "EUR",
    )
    assert user.public_name == "小林 Lin"
    assert "设置已保存" in client.get(SETTINGS_URL).content.decode()


def test_following_the_browser_again_forgets_the_language_cookie(client):
    user = UserFactory(language="zh-hans")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.post(SETTINGS_URL, _settings_form(language=""))
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    user.refresh_from_db()
    assert user.language == ""
    assert "<h1>Your settings</h1>" in client.get(SETTINGS_URL, **EN).content.decode()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("time_zone", "Mars/Olympus_Mons", "is not a time zone we know"),
        ("time_zone", "../../etc/passwd", "is not a time zone we know"),
        ("time_zone", "PRC", "is not a time zone we know"),
        ("display_currency", "BTC", "Select a valid choice"),
        ("display_name", "x" * 31, "2 to 30 characters"),
        ("display_name", "a", "2 to 30 characters"),
        ("display_name", "<script>", "Use letters, digits"),
        ("display_name", "two  spaces", "Use letters, digits"),
        ("display_name", "Member #1", "looks like the one we show"),
        ("display_name", "会员 12", "looks like the one we show"),
        ("language", "fr", "Select a valid choice"),
    ],
)
def test_bad_settings_are_refused_in_the_form_and_nothing_is_saved(client, field, value, error):
    user = UserFactory(display_name="Before", time_zone="Asia/Tokyo", display_currency="USD")
    client.force_login(user)
    response = client.post(SETTINGS_URL, {**_settings_form(display_name="Before"), field: value}, **EN)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html and error in html
    widget = re.search(rf'<(input|select)[^>]*id="id_{field}"[^>]*>', html)
    assert widget and f"id_{field}_error" in widget.group(0) and 'aria-invalid="true"' in widget.group(0)
    user.refresh_from_db()
    assert (user.display_name, user.time_zone, user.display_currency) == ("Before", "Asia/Tokyo", "USD")


def test_settings_errors_are_in_chinese_for_a_chinese_reader(client):
    client.force_login(UserFactory())
    html = client.post(SETTINGS_URL, _settings_form(time_zone="Mars/Olympus_Mons"), **ZH).content.decode()
    assert "不是可识别的时区" in html


def test_help_texts_are_tied_to_their_fields(client):
    client.force_login(UserFactory())
    html = client.get(SETTINGS_URL, **EN).content.decode()
    assert 'aria-describedby="id_display_name_helptext"' in html
    assert 'id="id_display_name_helptext"' in html and "Member #" in html
    client.logout()
    signup = client.get("/accounts/signup/").content.decode()
    assert 'aria-describedby="id_password1_helptext"' in signup and 'id="id_password1_helptext"' in signup


# --- PIN wording and the tries left --------------------------------------------------------------


@pytest.mark.parametrize("exists", [True, False])
def test_a_failed_sign_in_says_the_tries_left_whether_or_not_the_account_exists(client, exists):
    if exists:
        UserFactory(email="m@example.com")
    lefts = []
    for _ in range(2):
        html = client.post("/accounts/login/", {"login": "m@example.com", "password": "5820"}, **EN).content.decode()
        lefts.append(html)
    assert "4 tries left before signing in with this email pauses" in lefts[0]
    assert "3 tries left" in lefts[1]


def test_the_pin_change_page_speaks_of_pins_not_passwords(client):
    client.force_login(UserFactory())
    html = client.get("/accounts/password/change/", **EN).content.decode()
    assert "Change your PIN" in html and "Current PIN" in html
    assert "password" not in html.lower().replace('type="password"', "").replace("/password/", "").replace(
        "current-password", ""
    ).replace("new-password", "").replace("oldpassword", "").replace("password1", "").replace("password2", "")
    zh = client.get("/accounts/password/change/", **ZH).content.decode()
    assert "修改 PIN 码" in zh and "密码" not in zh


def test_the_recovery_email_speaks_of_pins_in_the_readers_language(client):
    from tests.factories import verify_email

    user = UserFactory(email="m@example.com")
    verify_email(user)
    client.post("/accounts/password/reset/", {"email": "m@example.com"}, **ZH)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "PIN 码" in message.subject and "PIN 码" in message.body and "密码" not in message.body


def test_security_emails_are_in_the_members_language(client, django_capture_on_commit_callbacks):
    user = UserFactory(email="m@example.com", language="zh-hans")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(settings.GOLDBOOK_PIN_LOCKOUT_AFTER):
            client.post(
                "/api/users/login",
                json.dumps({"email": user.email, "pin": "5820"}),
                content_type="application/json",
                REMOTE_ADDR=f"10.0.0.{_}",
            )
            client.cookies.clear()
            from django.core.cache import cache

            cache.clear()
    user.refresh_from_db()
    assert user.is_locked
    locked = [m for m in mail.outbox if "锁定" in m.subject]
    assert locked and "PIN 码" in locked[0].body


def test_public_name_default_is_translated():
    from django.utils import translation

    user = UserFactory()
    with translation.override("zh-hans"):
        assert user.public_name == f"会员 #{user.pk}"
    assert User.objects.get(pk=user.pk).public_name == f"Member #{user.pk}"
    assert DEFAULT_PIN


# --- before LocaleMiddleware, and the staff's admin ------------------------------------------------


def test_a_too_large_body_is_refused_in_the_readers_language(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"email": "m@example.com", "pin": "5820", "pad": "x" * 2000})
    response = client.post("/api/users/login", body, content_type="application/json", **ZH)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert response.json()["message"] == "请求体超过 1,000 字节。"


def test_the_admin_speaks_the_staff_members_language(client):
    from tests.factories import staff

    admin_user = staff("wallet.view_transfer", language="zh-hans")
    client.force_login(admin_user)
    html = client.get("/admin/wallet/transfer/", **EN).content.decode()
    assert "Goldbook 管理后台" in html
    assert "选择转账查看" in html and "会员邮箱、类型" in html  # verbose_name and search help
