"""E9th deposits and wallet linking: JSON-RPC fixtures with `responses`, and a real local EVM."""

import pytest
import responses
from eth_account import Account
from eth_account.messages import encode_defunct

from accounts.services import api_session_create
from payments import services
from payments.models import LinkedWallet, Payment, PaymentStatus
from payments.providers.e9th import TRANSFER_TOPIC
from payments.services.e9th import _decimals_cache
from tests.factories import UserFactory, credit_package
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db

RPC = "https://node.test/rpc"
TOKEN = "0x" + "7" * 40
DEPOSIT = "0x" + "d" * 40
KEY = "0x" + "11" * 32
OTHER_KEY = "0x" + "22" * 32
TX = "0x" + "ab" * 32
BLOCK_HASH = "0x" + "b1" * 32


def addr(key):
    return Account.from_key(key).address.lower()


def topic(address):
    return "0x" + "0" * 24 + address[2:].lower()


@pytest.fixture
def e9th_settings(settings):
    settings.E9TH_RPC_URL = RPC
    settings.E9TH_TOKEN_ADDRESS = TOKEN
    settings.E9TH_DEPOSIT_ADDRESS = DEPOSIT
    settings.E9TH_MIN_CONFIRMATIONS = 3
    settings.E9TH_TOKEN_DECIMALS = 6
    return settings


def token(user):
    return api_session_create(user=user, ip=None, user_agent="t")[1]


def link(client, user, key):
    tok = token(user)
    challenge = client.post("/api/users/wallet/challenge", {"session_token": tok}, content_type="application/json")
    assert challenge.status_code == 200, challenge.content
    message = challenge.json()["message"]
    signature = Account.sign_message(encode_defunct(text=message), private_key=key).signature.hex()
    return client.post(
        "/api/users/wallet/link",
        {"session_token": tok, "wallet_address": addr(key), "signature": "0x" + signature.removeprefix("0x")},
        content_type="application/json",
    )


def receipt(
    *, sender, value, token_address=TOKEN, to=DEPOSIT, status=1, block=100, block_hash=BLOCK_HASH, extra_logs=()
):
    log = {"address": token_address, "topics": [TRANSFER_TOPIC, topic(sender), topic(to)], "data": hex(value)}
    return {
        "transactionHash": TX,
        "status": hex(status),
        "blockNumber": hex(block),
        "blockHash": block_hash,
        "logs": [log, *extra_logs],
    }


ORPHAN_HASH = "0x" + "ee" * 32


def rpc_mock(rsps, *, receipts, head=102, canonical=None):
    """JSON-RPC node: successive receipts (None = not mined) and a fixed head block. The
    canonical chain's block hashes by height: `canonical`, by default the last receipt's block
    (any other height answers another hash)."""
    queue = list(receipts)
    last = queue[-1]
    canonical = (
        canonical if canonical is not None else ({int(last["blockNumber"], 16): last["blockHash"]} if last else {})
    )

    def callback(request):
        import json

        payload = json.loads(request.body)
        if payload["method"] == "eth_blockNumber":
            result = hex(head)
        elif payload["method"] == "eth_getTransactionReceipt":
            result = queue.pop(0) if len(queue) > 1 else queue[0]
        elif payload["method"] == "eth_getBlockByNumber":
            result = {"number": payload["params"][0], "hash": canonical.get(int(payload["params"][0], 16), ORPHAN_HASH)}
        else:
            result = hex(6)
        return 200, {}, json.dumps({"jsonrpc": "2.0", "id": payload["id"], "result": result})

    rsps.add_callback(responses.POST, RPC, callback=callback)


def purchase(client, user, *, tx=TX, wallet=None, package=None):
    return client.post(
        "/api/credits/purchase",
        {
            "session_token": token(user),
            "package_id": (package or credit_package("Popular Pack")).pk,
            "payment_method": "e9th_stablecoin",
            "tx_hash": tx,
            "wallet_address": wallet or addr(KEY),
        },
        content_type="application/json",
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- wallet linking --------------------------------------------------------------------------


def test_link_with_a_valid_signature(client):
    user = UserFactory()
    resp = link(client, user, KEY)
    assert resp.status_code == 200, resp.content
    assert LinkedWallet.objects.get(user=user).address == addr(KEY)


def test_challenge_is_one_time_and_signature_must_match(client):
    user = UserFactory()
    tok = token(user)
    message = client.post(
        "/api/users/wallet/challenge", {"session_token": tok}, content_type="application/json"
    ).json()["message"]
    wrong = Account.sign_message(encode_defunct(text=message), private_key=OTHER_KEY).signature.hex()
    resp = client.post(
        "/api/users/wallet/link",
        {"session_token": tok, "wallet_address": addr(KEY), "signature": "0x" + wrong.removeprefix("0x")},
        content_type="application/json",
    )
    assert resp.status_code == 400
    good = Account.sign_message(encode_defunct(text=message), private_key=KEY).signature.hex()
    replay = client.post(
        "/api/users/wallet/link",
        {"session_token": tok, "wallet_address": addr(KEY), "signature": "0x" + good.removeprefix("0x")},
        content_type="application/json",
    )
    assert replay.status_code == 400  # the challenge was spent by the failed attempt
    assert not LinkedWallet.objects.exists()


def test_one_address_belongs_to_one_user(client):
    first, second = UserFactory(), UserFactory()
    assert link(client, first, KEY).status_code == 200
    resp = link(client, second, KEY)
    assert resp.status_code == 409 and resp.json()["error"] == "wallet_taken"


def test_garbage_signature_is_400(client):
    user = UserFactory()
    tok = token(user)
    client.post("/api/users/wallet/challenge", {"session_token": tok}, content_type="application/json")
    resp = client.post(
        "/api/users/wallet/link",
        {"session_token": tok, "wallet_address": addr(KEY), "signature": "0xnothex"},
        content_type="application/json",
    )
    assert resp.status_code == 400


# --- purchase checks, in the order ------------------------------------------------------


def test_malformed_hash_or_address_is_400(client, e9th_settings):
    user = UserFactory()
    assert purchase(client, user, tx="0x1234").status_code == 400
    assert purchase(client, user, wallet="0xnope").status_code == 400


def test_wallet_not_linked_is_403(client, e9th_settings):
    user = UserFactory()
    resp = purchase(client, user)
    assert resp.status_code == 403 and resp.json()["error"] == "wallet_not_linked"


def test_confirmed_deposit_is_credited_once_in_the_seed_shape(client, e9th_settings, rsps):
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)], head=102)
    resp = purchase(client, user)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body == {
        "success": True,
        "package_name": "Popular Pack",
        "usd_amount": 50.0,
        "base_credits": 50.0,
        "bonus_credits": 25.0,
        "total_credits_added": 75.0,
        "new_balance": 75.0,
        "transaction_id": Payment.objects.get().pk,
    }
    assert b'"usd_amount": 50.00' in resp.content
    again = purchase(client, user)
    assert again.status_code == 200 and again.json()["already_credited"] is True
    assert again.json()["new_balance"] == 75.0
    assert balance_for_user(user_id=user.pk).balance == 7500


def test_too_few_confirmations_is_202_then_credits_when_resubmitted(client, e9th_settings, rsps):
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6, block=101)], head=102)
    resp = purchase(client, user)
    assert resp.status_code == 202
    body = resp.json()
    assert body["success"] is True and body["status"] == "pending"
    assert body["confirmations"] == 2 and body["required_confirmations"] == 3
    assert balance_for_user(user_id=user.pk).balance == 0
    rsps.reset()
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6, block=101)], head=103)
    assert purchase(client, user).status_code == 200
    assert balance_for_user(user_id=user.pk).balance == 7500


def test_not_mined_is_202_with_zero_confirmations(client, e9th_settings, rsps):
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[None])
    resp = purchase(client, user)
    assert resp.status_code == 202 and resp.json()["confirmations"] == 0
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_hash_claimed_by_another_user_is_409(client, e9th_settings, rsps):
    owner, other = UserFactory(), UserFactory()
    link(client, owner, KEY)
    link(client, other, OTHER_KEY)
    rpc_mock(rsps, receipts=[None])
    assert purchase(client, owner).status_code == 202
    resp = purchase(client, other, wallet=addr(OTHER_KEY))
    assert resp.status_code == 409


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        ({"status": 0}, "reverted"),
        ({"token_address": "0x" + "9" * 40}, "wrong token"),
        ({"to": "0x" + "e" * 40}, "deposit address"),
        ({"value": 49 * 10**6}, "too small"),
        ({"sender": "0x" + "5" * 40}, "linked wallet"),
    ],
)
def test_failing_receipt_is_422_with_the_reason_and_reserves_nothing(client, e9th_settings, rsps, kwargs, reason):
    user = UserFactory()
    link(client, user, KEY)
    args = {"sender": addr(KEY), "value": 50 * 10**6, **kwargs}
    rpc_mock(rsps, receipts=[receipt(**args)])
    resp = purchase(client, user)
    assert resp.status_code == 422
    assert reason in resp.json()["message"]
    assert not Payment.objects.filter(reference=TX).exists()
    assert balance_for_user(user_id=user.pk).balance == 0


def test_two_token_transfers_in_one_transaction_are_refused(client, e9th_settings, rsps):
    user = UserFactory()
    link(client, user, KEY)
    second = {"address": TOKEN, "topics": [TRANSFER_TOPIC, topic(addr(KEY)), topic(DEPOSIT)], "data": hex(1)}
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6, extra_logs=[second])])
    assert purchase(client, user).status_code == 422


def test_impostor_cannot_block_the_real_owner(client, e9th_settings, rsps):
    owner, impostor = UserFactory(), UserFactory()
    link(client, owner, KEY)
    link(client, impostor, OTHER_KEY)
    rpc_mock(rsps, receipts=[None])
    assert purchase(client, impostor, wallet=addr(OTHER_KEY)).status_code == 202  # not mined: pending claim
    rsps.reset()
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)])
    resp = purchase(client, owner)  # mined now: the impostor's claim is re-checked and fails
    assert resp.status_code == 200, resp.content
    assert Payment.objects.get(user=impostor).status == PaymentStatus.FAILED
    assert balance_for_user(user_id=owner.pk).balance == 7500
    assert balance_for_user(user_id=impostor.pk).balance == 0


def test_reorg_before_crediting_waits_instead_of_crediting(client, e9th_settings, rsps):
    """The receipt seen first moved to another block by the re-check right before crediting."""
    user = UserFactory()
    link(client, user, KEY)
    first = receipt(sender=addr(KEY), value=50 * 10**6, block=100, block_hash=BLOCK_HASH)
    moved = receipt(sender=addr(KEY), value=50 * 10**6, block=101, block_hash="0x" + "c2" * 32)
    rpc_mock(rsps, receipts=[first, moved], head=110)
    resp = purchase(client, user)
    assert resp.status_code == 202
    assert balance_for_user(user_id=user.pk).balance == 0
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CONFIRMING
    rsps.reset()
    rpc_mock(rsps, receipts=[moved], head=110)
    assert services.e9th_recheck(payment_id=payment.pk).status == "confirmed"
    assert balance_for_user(user_id=user.pk).balance == 7500


def test_poller_fails_a_hash_without_receipt_after_30_minutes(client, e9th_settings, rsps):
    from datetime import timedelta

    from django.utils import timezone

    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[None])
    purchase(client, user)
    payment = Payment.objects.get()
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    services.poll_payments()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED and payment.reference is None and payment.rejected_reference == TX


def test_chain_down_is_503(client, e9th_settings, rsps):
    user = UserFactory()
    link(client, user, KEY)
    rsps.add(responses.POST, RPC, status=502)
    assert purchase(client, user).status_code == 503


def test_decimals_are_read_from_the_contract_when_unset(client, e9th_settings, rsps):
    e9th_settings.E9TH_TOKEN_DECIMALS = None
    _decimals_cache.clear()
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)])  # eth_call answers 6
    assert purchase(client, user).status_code == 200
    _decimals_cache.clear()


# --- a real local EVM ------------------------------------------------------------------------------


@pytest.fixture
def chain(settings):
    from .chain import LocalChain

    evm = LocalChain(decimals=6)
    url = evm.serve()
    settings.E9TH_RPC_URL = url
    settings.E9TH_TOKEN_ADDRESS = evm.token.address
    settings.E9TH_DEPOSIT_ADDRESS = evm.accounts[5]
    settings.E9TH_MIN_CONFIRMATIONS = 3
    settings.E9TH_TOKEN_DECIMALS = None
    _decimals_cache.clear()
    yield evm
    evm.stop()
    _decimals_cache.clear()


def test_real_erc20_transfer_is_credited_after_blocks_cross_the_threshold(client, chain):
    # eth-tester's accounts[i] is the key i+1: the user proves control of accounts[1].
    user_key = "0x" + "0" * 63 + "2"
    sender = chain.accounts[1]
    assert addr(user_key) == sender.lower()
    chain.fund(sender, 100 * 10**6)
    user = UserFactory()
    assert link(client, user, user_key).status_code == 200
    tx = chain.transfer(sender, chain.accounts[5], 50 * 10**6)  # mined at once: 1 confirmation
    resp = purchase(client, user, tx=tx, wallet=sender)
    assert resp.status_code == 202 and resp.json()["confirmations"] == 1
    chain.mine(2)
    resp = purchase(client, user, tx=tx, wallet=sender)
    assert resp.status_code == 200, resp.content
    assert resp.json()["total_credits_added"] == 75.0
    assert balance_for_user(user_id=user.pk).balance == 7500


def test_real_transfer_to_the_wrong_address_is_422(client, chain):
    user_key = "0x" + "0" * 63 + "3"
    sender = chain.accounts[2]
    chain.fund(sender, 100 * 10**6)
    user = UserFactory()
    link(client, user, user_key)
    tx = chain.transfer(sender, chain.accounts[7], 50 * 10**6)
    chain.mine(3)
    resp = purchase(client, user, tx=tx, wallet=sender)
    assert resp.status_code == 422 and "deposit address" in resp.json()["message"]


def test_a_credited_deposit_tells_the_other_apps_which_wallet_paid(client, e9th_settings, rsps):
    """Rewards' same-wallet referral check reads the paying wallet from PURCHASE_COMPLETED."""
    from core.events import Event
    from core.models import OutboxEvent

    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)], head=102)
    assert purchase(client, user).status_code == 200
    event = OutboxEvent.objects.get(name=Event.PURCHASE_COMPLETED)
    payment = Payment.objects.get()
    assert event.payload == {"payment_id": payment.pk, "user_id": user.pk, "wallet_address": addr(KEY)}


def test_a_failing_receipt_is_explained_in_the_members_language(client, e9th_settings, rsps):
    """A Chinese app (Accept-Language) shows why the chain check failed in Chinese, with the
    figures; `reason` stays the English sentence for logs and integrations."""
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=49 * 10**6)])
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    body = purchase(client, user).json()
    assert body["message"] == f"转账金额太小：发送了 {49 * 10**6} 个代币单位，至少需要 {50 * 10**6} 个。"
    assert body["reason"].startswith("The transfer is too small")
