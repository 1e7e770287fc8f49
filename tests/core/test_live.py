"""The /ws/ consumer: only signed-in members, only their own group, JSON events; publishing is
bounded and quiet when the channel layer is down."""

import logging
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application
from core.live import listening, publish
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [ORIGIN, (b"cookie", cookie.encode())]


def use_a_layer_that_is_down(settings) -> None:
    """A Redis channel layer nobody answers: nothing listens on port 1, connections are refused."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layers.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0", "socket_connect_timeout": 1}]},
        }
    }


def use_the_redis_layer(settings) -> None:
    """The production channel layer on the test Redis, under a prefix of this test's own."""
    import os
    import uuid

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layers.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_connect_timeout": 1, "socket_timeout": 2}],
                "prefix": f"goldbook:test:{uuid.uuid4().hex[:8]}",
            },
        }
    }


def socket(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/", headers=headers)


def test_an_anonymous_socket_is_refused():
    async def run():
        ws = socket([ORIGIN])
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(run)()


def test_a_socket_from_another_site_is_refused():
    user = UserFactory()
    headers = [(b"origin", b"https://evil.example")] + session_headers(user)[1:]

    async def run():
        ws = socket(headers)
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(run)()


def test_each_member_hears_only_their_own_events():
    alice, bob = UserFactory(), UserFactory()
    alice_headers, bob_headers = session_headers(alice), session_headers(bob)

    async def run():
        a, b = socket(alice_headers), socket(bob_headers)
        assert (await a.connect())[0]
        assert (await b.connect())[0]
        # What the client sends cannot move it to another member's group.
        await a.send_json_to({"group": f"member.{bob.pk}", "subscribe": bob.pk})
        layer_send = publish  # sync: run it in a thread, as a handler does
        from asgiref.sync import sync_to_async

        assert await sync_to_async(layer_send)(user_id=bob.pk, event={"type": "balance", "available": "1.00"})
        assert await b.receive_json_from(timeout=2) == {"type": "balance", "available": "1.00"}
        assert await a.receive_nothing(timeout=0.3)
        await sync_to_async(layer_send)(user_id=alice.pk, event={"type": "balance", "available": "2.00"})
        assert await a.receive_json_from(timeout=2) == {"type": "balance", "available": "2.00"}
        assert await b.receive_nothing(timeout=0.3)
        await a.disconnect()
        await b.disconnect()

    async_to_sync(run)()


def test_publish_fails_quietly_and_quickly_when_the_layer_is_down(settings, caplog):
    use_a_layer_that_is_down(settings)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="core.live"):
        assert publish(user_id=7, event={"type": "balance"}) is False
    assert time.monotonic() - started < settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT + 1
    assert "member #7: could not publish balance" in caplog.text


def test_a_socket_is_refused_when_the_layer_is_down(settings):
    user = UserFactory()
    headers = session_headers(user)
    use_a_layer_that_is_down(settings)

    async def run():
        ws = socket(headers)
        connected, _ = await ws.connect(timeout=5)
        assert not connected

    async_to_sync(run)()


@pytest.mark.redis
def test_the_redis_layer_carries_a_members_events_to_their_socket(settings):
    """What production runs: the publisher (a Celery worker) and the socket share only Redis."""
    use_the_redis_layer(settings)
    member, other = UserFactory(), UserFactory()
    mine, theirs = session_headers(member), session_headers(other)

    async def run():
        from asgiref.sync import sync_to_async

        a, b = socket(mine), socket(theirs)
        assert (await a.connect(timeout=5))[0] and (await b.connect(timeout=5))[0]
        assert await sync_to_async(publish)(user_id=member.pk, event={"type": "balance", "available": "3.00"})
        assert await a.receive_json_from(timeout=5) == {"type": "balance", "available": "3.00"}
        assert await b.receive_nothing(timeout=0.5)
        await a.disconnect()
        await b.disconnect()

    async_to_sync(run)()


def test_signing_out_closes_that_sessions_socket_only():
    """A shared computer: once the member signs out there, that page's socket closes at once and
    hears nothing more; their socket on another device stays open."""
    member = UserFactory()
    here, elsewhere = Client(), Client()
    here.force_login(member)
    elsewhere.force_login(member)

    def headers(client):
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        return [ORIGIN, (b"cookie", cookie.encode())]

    async def run():
        from asgiref.sync import sync_to_async

        a, b = socket(headers(here)), socket(headers(elsewhere))
        assert (await a.connect())[0] and (await b.connect())[0]
        response = await sync_to_async(here.post)("/accounts/logout/")
        assert response.status_code == 302
        closed = await a.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": 4401}
        assert await sync_to_async(publish)(user_id=member.pk, event={"type": "balance", "available": "1.00"})
        assert await b.receive_json_from(timeout=2) == {"type": "balance", "available": "1.00"}
        await b.disconnect()

    async_to_sync(run)()


def test_a_socket_whose_session_ended_unheard_forwards_nothing():
    """The close message was lost (the layer hiccuped) or the session expired: the socket checks
    its session before it forwards an event, and closes instead."""
    member = UserFactory()
    client = Client()
    client.force_login(member)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    async def run():
        from asgiref.sync import sync_to_async
        from django.contrib.sessions.models import Session

        ws = socket([ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())])
        assert (await ws.connect())[0]
        await sync_to_async(Session.objects.filter(session_key=key).delete)()
        assert await sync_to_async(publish)(user_id=member.pk, event={"type": "balance", "available": "9.00"})
        assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_ending_other_sessions_closes_their_sockets():
    from accounts.services import sessions_end_others
    from tests.factories import DEFAULT_PIN

    member = UserFactory(email="two@example.com")
    mine, other = Client(), Client()
    for client in (mine, other):  # real sign-ins: allauth records each web session
        assert client.post("/accounts/login/", {"login": member.email, "password": DEFAULT_PIN}).status_code == 302
    other_key = other.cookies[settings.SESSION_COOKIE_NAME].value
    keep = mine.cookies[settings.SESSION_COOKIE_NAME].value

    async def run():
        from asgiref.sync import sync_to_async

        kept = socket([ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={keep}".encode())])
        ended = socket([ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={other_key}".encode())])
        assert (await kept.connect())[0] and (await ended.connect())[0]
        await sync_to_async(sessions_end_others)(user=member, keep_session_key=keep)
        assert await ended.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}
        assert await kept.receive_nothing(timeout=0.3)
        await kept.disconnect()

    async_to_sync(run)()


def test_listening_names_only_members_with_an_open_page():
    member, other = UserFactory(), UserFactory()
    headers = session_headers(member)

    async def run():
        from asgiref.sync import sync_to_async

        ws = socket(headers)
        assert (await ws.connect())[0]
        assert await sync_to_async(listening)([other.pk, member.pk, member.pk]) == [member.pk]
        await ws.disconnect()

    async_to_sync(run)()
    assert listening([member.pk, other.pk]) == []


def test_listening_gives_up_once_quickly_when_the_layer_is_down(settings, caplog):
    use_a_layer_that_is_down(settings)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="core.live"):
        assert listening(range(1, 501)) == []  # one wait for 500 members, not one each
    assert time.monotonic() - started < settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT + 1
    assert caplog.text.count("could not look up 500 members' open pages") == 1


@pytest.mark.redis
def test_listening_on_the_redis_layer_asks_once_for_every_member(settings):
    use_the_redis_layer(settings)
    member, other = UserFactory(), UserFactory()
    headers = session_headers(member)

    async def run():
        from asgiref.sync import sync_to_async

        ws = socket(headers)
        assert (await ws.connect(timeout=5))[0]
        assert await sync_to_async(listening)([other.pk, member.pk, 10**9]) == [member.pk]
        await ws.disconnect()

    async_to_sync(run)()
