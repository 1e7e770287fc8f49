import json

import pytest

from core.jsonbody import MAX_JSON_DEPTH, json_too_deep, parse_json_body


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b'{"a": [1, {"b": 2}]}', False),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
        (b"[" * 100_000, True),
        # Brackets inside strings, escaped quotes included, are text, not nesting.
        (json.dumps({"s": "[" * 500 + '\\"[[[' + "{" * 500}).encode(), False),
        (b'{"s": "\\\\"}' + b"[" * 40, True),
    ],
)
def test_nesting_depth_is_measured_outside_strings(body, too_deep):
    assert json_too_deep(body) is too_deep


def test_deep_body_is_refused_before_the_recursive_parser():
    with pytest.raises(ValueError, match="nested deeper"):
        parse_json_body(b"[" * 200_000 + b"]" * 200_000)
    assert parse_json_body(b'{"ok": true}') == {"ok": True}


@pytest.mark.django_db
def test_api_answers_400_to_a_deeply_nested_body(client):
    response = client.post("/api/users/login", b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) >= {"error", "message"}
