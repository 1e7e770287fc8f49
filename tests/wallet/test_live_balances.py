"""Every committed balance change reaches the member's open pages, after commit, through the
outbox (Event.BALANCE_CHANGED); a rolled-back one reaches nobody."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from config.asgi import application
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


def balance_events() -> list[list[int]]:
    rows = OutboxEvent.objects.filter(name=str(Event.BALANCE_CHANGED)).order_by("id")
    return [row.payload["user_ids"] for row in rows]


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
def test_a_rolled_back_transfer_publishes_nothing():
    member = UserFactory()
    fund(member, "10.00")
    before = len(balance_events())
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
    assert len(balance_events()) == before
    assert services.user_account(user_id=member.pk).balance == 1000


@pytest.mark.django_db
def test_every_kind_of_balance_change_records_the_event_for_its_members():
    alice, bob = UserFactory(), UserFactory()
    fund(alice, "10.00")  # a purchase (system -> user)
    assert balance_events()[-1] == [alice.pk]
    services.transfer_post(
        from_account=services.user_account(user_id=alice.pk),
        to_account=services.user_account(user_id=bob.pk),
        amount=100,
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="a-to-b",
    )
    assert balance_events()[-1] == sorted([alice.pk, bob.pk])
    count = len(balance_events())
    hold = services.hold_place(
        account=services.user_account(user_id=alice.pk), amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="h1"
    )
    services.hold_release(hold_id=hold.pk)
    hold = services.hold_place(
        account=services.user_account(user_id=alice.pk), amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="h2"
    )
    services.hold_capture(hold_id=hold.pk, amount=60, to_account=revenue())
    reversal = services.transfer_reverse(transfer=spend(alice, 50, "s1"))
    assert reversal.kind == TransferKind.REVERSAL
    # place, release, place, capture, spend, reversal: one event each, all for alice.
    assert balance_events()[count:] == [[alice.pk]] * 6


@pytest.mark.django_db
def test_a_transfer_between_system_accounts_records_nothing():
    before = len(balance_events())
    services.transfer_post(
        from_account=services.system_account(name=SystemAccount.ISSUANCE),
        to_account=revenue(),
        amount=100,
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="sys-sys",
    )
    assert len(balance_events()) == before
