import json

import pytest


@pytest.fixture
def api(client):
    """POST JSON to the API: `api("/users/login", {...}, ip="10.0.0.1", token=...)`."""

    def call(path, body=None, *, ip="127.0.0.1", token=None, raw=None):
        headers = {"REMOTE_ADDR": ip}
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return client.post(f"/api{path}", data=data, content_type="application/json", **headers)

    return call
