import pytest

from core.errors import GoldbookError, error_body
from core.jsonbody import InvalidBody, parse_json_body


@pytest.mark.parametrize(
    "body",
    [b"NaN", b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e999}', b"\xff\xfe", b"{", b'{"a": 1} x'],
)
def test_malformed_or_non_finite_bodies_are_a_400(body):
    with pytest.raises(InvalidBody) as caught:
        parse_json_body(body)
    assert caught.value.status == 400 and error_body(caught.value)["error"] == "invalid_request"
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError keep working


def test_error_body_carries_extra_fields():
    exc = GoldbookError("Not enough credits.", status=402, code="insufficient_credits", needed=5)
    assert (exc.status, str(exc)) == (402, "Not enough credits.")
    assert error_body(exc) == {"error": "insufficient_credits", "message": "Not enough credits.", "needed": 5}
