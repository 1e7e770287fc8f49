"""`/api/users/*` messages follow Accept-Language; the `error` codes stay English."""

import json

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _post(client, path, body, language):
    return client.post(
        f"/api{path}", data=json.dumps(body), content_type="application/json", headers={"accept-language": language}
    )


def test_a_wrong_pin_is_explained_in_chinese_with_a_stable_code(client):
    UserFactory(email="m@example.com")
    response = _post(client, "/users/login", {"email": "m@example.com", "pin": "9371"}, "zh-CN,zh;q=0.9")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_credentials"
    assert body["message"] == "邮箱和 PIN 码不匹配任何账户。"


def test_registering_answers_in_the_callers_language(client):
    response = _post(client, "/users/register", {"email": "new@example.com", "pin": "58203"}, "zh-hans")
    assert response.status_code == 201 and response.json()["message"] == "账户创建成功"
    response = _post(client, "/users/register", {"email": "other@example.com", "pin": "58203"}, "en")
    assert response.json()["message"] == "Account created successfully"
