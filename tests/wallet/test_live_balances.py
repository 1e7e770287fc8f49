"""Every committed balance change reaches the member's open pages, after commit
(Event.BALANCE_CHANGED, a LIVE event); a rolled-back one reaches nobody."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from config.asgi import application
from core import events
from core.events import Event
from core.models import OutboxEvent
from tests.core.test_live import session_headers
from tests.factories import UserFactory, fund
from wallet import services
from wallet.models import SystemAccount, TransferKind


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def revenue():
    return services.system_account(name=SystemAccount.REVENUE)


def spend(user, amount: int, key: str):
    return services.transfer_post(
        from_account=services.user_account(user_id=user.pk),
        to_account=revenue(),
        amount=amount,
        kind=TransferKind.REDEEM,
        idempotency_key=key,
    )


@pytest.fixture
def delivered():
    """The payloads of BALANCE_CHANGED as its handlers receive them, after commit."""
    seen: list[list[int]] = []
    events.subscribe(Event.BALANCE_CHANGED, lambda e: seen.append(e.payload["user_ids"]), name="tests.seen")
    yield seen
    events._handlers[Event.BALANCE_CHANGED] = [
        s for s in events._handlers[Event.BALANCE_CHANGED] if s.name != "tests.seen"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_committed_spend_pushes_the_new_balance_to_the_members_socket():
    member, other = UserFactory(), UserFactory()
    fund(member, "10.00")
    mine, theirs = session_headers(member), session_headers(other)

    async def run():
        ws = WebsocketCommunicator(application, "/ws/", headers=mine)
        other_ws = WebsocketCommunicator(application, "/ws/", headers=theirs)
        assert (await ws.connect())[0] and (await other_ws.connect())[0]
        await sync_to_async(spend)(member, 250, "live-spend")
        event = await ws.receive_json_from(timeout=3)
        assert event["type"] == "balance"
        assert Decimal(event["available"]) == Decimal("7.50")
        assert event["available_minor"] == 750
        assert await other_ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        await other_ws.disconnect()

    async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transfer_publishes_nothing(delivered):
    member = UserFactory()
    fund(member, "10.00")
    assert delivered == [[member.pk]]
    headers = session_headers(member)

    def spend_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            spend(member, 250, "rolled-back")
            raise RuntimeError("the caller fails after the transfer")

    async def run():
        ws = WebsocketCommunicator(application, "/ws/", headers=headers)
        assert (await ws.connect())[0]
        await sync_to_async(spend_then_fail)()
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    async_to_sync(run)()
    assert delivered == [[member.pk]]  # only the funding
    assert services.user_account(user_id=member.pk).balance == 1000


@pytest.mark.django_db
def test_every_kind_of_balance_change_is_delivered_after_commit_for_its_members(
    delivered, django_capture_on_commit_callbacks
):
    alice, bob = UserFactory(), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        fund(alice, "10.00")  # a purchase (system -> user)
    assert delivered == [[alice.pk]]
    with django_capture_on_commit_callbacks(execute=True):
        services.transfer_post(
            from_account=services.user_account(user_id=alice.pk),
            to_account=services.user_account(user_id=bob.pk),
            amount=100,
            kind=TransferKind.ADJUSTMENT,
            idempotency_key="a-to-b",
        )
    assert delivered[-1] == sorted([alice.pk, bob.pk])
    delivered.clear()
    account = services.user_account(user_id=alice.pk)
    with django_capture_on_commit_callbacks(execute=True):
        hold = services.hold_place(account=account, amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="h1")
    with django_capture_on_commit_callbacks(execute=True):
        services.hold_release(hold_id=hold.pk)
    with django_capture_on_commit_callbacks(execute=True):
        hold = services.hold_place(account=account, amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="h2")
    with django_capture_on_commit_callbacks(execute=True):
        services.hold_capture(hold_id=hold.pk, amount=60, to_account=revenue())
    with django_capture_on_commit_callbacks(execute=True):
        reversal = services.transfer_reverse(transfer=spend(alice, 50, "s1"))
    assert reversal.kind == TransferKind.REVERSAL
    # place, release, place, capture, spend, reversal: one each, all for alice.
    assert delivered == [[alice.pk]] * 6


@pytest.mark.django_db
def test_balance_changes_write_no_outbox_rows_and_system_transfers_tell_nobody(
    delivered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        fund(UserFactory(), "1.00")
        services.transfer_post(
            from_account=services.system_account(name=SystemAccount.ISSUANCE),
            to_account=revenue(),
            amount=100,
            kind=TransferKind.ADJUSTMENT,
            idempotency_key="sys-sys",
        )
    assert len(delivered) == 1
    assert not OutboxEvent.objects.filter(name=str(Event.BALANCE_CHANGED)).exists()


@pytest.mark.django_db
def test_a_failing_live_handler_does_not_fail_the_committed_request(django_capture_on_commit_callbacks, caplog):
    def broken(event):
        raise RuntimeError("layer exploded")

    events.subscribe(Event.BALANCE_CHANGED, broken, name="tests.broken")
    try:
        user = UserFactory()
        with django_capture_on_commit_callbacks(execute=True):
            fund(user, "1.00")
    finally:
        events._handlers[Event.BALANCE_CHANGED] = [
            s for s in events._handlers[Event.BALANCE_CHANGED] if s.name != "tests.broken"
        ]
    assert services.user_account(user_id=user.pk).balance == 100
    assert "handler tests.broken failed" in caplog.text
