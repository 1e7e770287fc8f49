"""The batch intake (issue 14): up to 500 signed events in one request, each applied or reported on
its own, replay-safe; the queries an event costs (counted, so they cannot creep back); and
`import_events` recording through the same batch path. Runs on PostgreSQL and SQLite."""

import json
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards import services
from rewards.models import ActivityEvent, Award, EventStatus, Integration
from tests.factories import UserFactory
from tests.rewards.conftest import sign
from wallet.models import Transfer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def event(n: int | str, email: str = "poster@example.com", **overrides):
    body = {
        "event_id": f"evt-{n}",
        "type": "answer.accepted",
        "occurred_at": "2025-01-02T03:04:05Z",
        "user": {"email": email},
        "object": {"type": "answer", "id": f"a{n}"},
        "data": {},
    }
    body.update(overrides)
    return body


def post_batch(client, body, *, secret: str = "s3cret-for-tests", timestamp=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp, signature = sign(raw, secret=secret, timestamp=timestamp)
    return client.post(
        "/api/rewards/events/batch",
        data=raw,
        content_type="application/json",
        HTTP_X_GOLDBOOK_INTEGRATION="forum",
        HTTP_X_GOLDBOOK_SIGNATURE=signature,
        HTTP_X_GOLDBOOK_TIMESTAMP=stamp,
    )


def statuses(response) -> list[str]:
    return [r["status"] for r in response.json()["results"]]


def test_batch_applies_each_event_and_reports_it_in_order(client, integration):
    user = UserFactory(email="poster@example.com")
    response = post_batch(client, {"events": [event(1), event(2), event(3)]})
    assert response.status_code == 200
    body = response.json()
    assert statuses(response) == ["applied"] * 3
    assert [r["event_id"] for r in body["results"]] == ["evt-1", "evt-2", "evt-3"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert body["results"][0]["note"] == "Accepted answer: +20.00"
    assert body["counts"] == {"applied": 3, "pending": 0, "failed": 0, "duplicate": 0, "rejected": 0}
    assert balance_for_user(user_id=user.pk).balance == 3 * 2000
    assert Award.objects.filter(user=user).count() == 3


def test_mixed_batch_each_event_on_its_own(client, integration):
    user = UserFactory(email="poster@example.com")
    assert post_batch(client, {"events": [event(1)]}).status_code == 200
    events = [
        event(1),  # received before, same content: duplicate
        event(2),
        {
            "event_id": "bad",
            "type": "no.such.type",
            "user": {"email": "x@example.com"},
            "object": {"type": "a", "id": 1},
        },
        event(1, email="thief@example.com"),  # event_id reused with other content
        event(3, email="stranger@example.com"),  # nobody has verified this address: pending
        event(2),  # the same event twice in one batch: the second is a duplicate
        event(4, user={"email": "no-at-sign"}),
        event(5, object={"type": "answer", "id": "other"}, event_id="evt-2"),  # conflicts with evt-2 of this batch
        event(6),
    ]
    response = post_batch(client, {"events": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert statuses(response) == [
        "duplicate",
        "applied",
        "rejected",
        "rejected",
        "pending",
        "duplicate",
        "rejected",
        "rejected",
        "applied",
    ]
    assert results[0]["stored_status"] == "applied"
    assert results[2]["error"] == "invalid_event" and "type" in results[2]["message"]
    assert results[3]["error"] == "event_conflict" and results[3]["message"]
    assert results[6]["error"] == "invalid_event"
    assert results[7]["error"] == "event_conflict"
    assert balance_for_user(user_id=user.pk).balance == 3 * 2000  # evt-1 (before), evt-2, evt-6
    assert ActivityEvent.objects.count() == 4
    assert ActivityEvent.objects.get(event_id="evt-1").user_email == "poster@example.com"


def test_replaying_a_whole_batch_changes_nothing(client, integration):
    user = UserFactory(email="poster@example.com")
    body = {"events": [event(n) for n in range(5)] + [event("p", email="later@example.com")]}
    first = post_batch(client, body)
    assert statuses(first) == ["applied"] * 5 + ["pending"]
    transfers, events = Transfer.objects.count(), ActivityEvent.objects.count()
    again = post_batch(client, body, timestamp=int(time.time()) + 5)  # a retry, signed again
    assert statuses(again) == ["duplicate"] * 6
    assert [r["stored_status"] for r in again.json()["results"]] == ["applied"] * 5 + ["pending"]
    assert Transfer.objects.count() == transfers and ActivityEvent.objects.count() == events
    assert balance_for_user(user_id=user.pk).balance == 5 * 2000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"events": [event(n) for n in range(services.BATCH_MAX + 1)]}, 413, "batch_too_large"),
        ({"events": []}, 400, None),
        ({"events": "evt-1"}, 400, None),
        ([event(1)], 400, None),
        (b"{not json", 400, None),
    ],
)
def test_batch_limit_and_malformed_bodies(client, integration, body, status, code):
    response = post_batch(client, body)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json") and response.json()["message"]
    if code:
        assert response.json()["error"] == code and response.json()["limit"] == services.BATCH_MAX
    assert ActivityEvent.objects.count() == 0


def test_batch_of_the_limit_is_accepted(client, integration):
    UserFactory(email="poster@example.com")
    events = [event(n, type="post.deleted", object={"type": "post", "id": n}) for n in range(services.BATCH_MAX)]
    response = post_batch(client, {"events": events})
    assert response.status_code == 200 and response.json()["counts"]["applied"] == services.BATCH_MAX


@pytest.mark.parametrize("kwargs", [{"secret": "wrong"}, {"timestamp": int(time.time()) - 3600}])
def test_batch_with_a_bad_signature_is_401_and_records_nothing(client, integration, kwargs):
    UserFactory(email="poster@example.com")
    response = post_batch(client, {"events": [event(1)]}, **kwargs)
    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    assert ActivityEvent.objects.count() == 0


def test_signature_covers_the_whole_batch_body(client, integration):
    raw = json.dumps({"events": [event(1)]}).encode()
    stamp, signature = sign(raw)
    tampered = json.dumps({"events": [event(1), event(2)]}).encode()
    response = client.post(
        "/api/rewards/events/batch",
        data=tampered,
        content_type="application/json",
        HTTP_X_GOLDBOOK_INTEGRATION="forum",
        HTTP_X_GOLDBOOK_SIGNATURE=signature,
        HTTP_X_GOLDBOOK_TIMESTAMP=stamp,
    )
    assert response.status_code == 401


def test_one_event_failing_to_apply_never_loses_the_others(client, integration, monkeypatch):
    from rewards.services import applying

    user = UserFactory(email="poster@example.com")
    real = applying.apply_event

    def flaky(*, event, **kwargs):
        if event.event_id == "evt-2":
            raise RuntimeError("boom")
        return real(event=event, **kwargs)

    monkeypatch.setattr(applying, "apply_event", flaky)
    response = post_batch(client, {"events": [event(1), event(2), event(3)]})
    assert statuses(response) == ["applied", "failed", "applied"]
    assert response.json()["results"][1]["note"] == "RuntimeError: boom"
    assert ActivityEvent.objects.get(event_id="evt-2").status == EventStatus.FAILED
    assert balance_for_user(user_id=user.pk).balance == 2 * 2000


def test_single_event_endpoint_keeps_its_contract(client, integration):
    from tests.rewards.conftest import signed_post

    UserFactory(email="poster@example.com")
    assert signed_post(client, event(1)).status_code == 202
    replay = signed_post(client, event(1))
    assert replay.status_code == 200 and replay.json() == {
        "event_id": "evt-1",
        "status": "applied",
        "replay": True,
        "note": "Accepted answer: +20.00",
    }
    assert signed_post(client, event(1, email="thief@example.com")).status_code == 409


# --- queries per event -------------------------------------------------------------------------


# Bounds per engine: SQLite's ledger path is the wallet's Python one (more, smaller statements).
# (one-event request, one more event in a batch, a 50-event batch per event)
# (one event's request, each further event, average per event of a 50-event batch). The rank
# cells (rewards.rank_cells: own rank at any depth without Redis) add one statement per request:
# a batch writes them once, at its end.
LIMITS = {"postgresql": (31, 7.5, 8), "sqlite": (37, 13.5, 14)}


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_queries_per_event_single_and_batch(client, integration):
    """Counted, not timed: a request costs a fixed ~22 queries (signature, stored ids, members,
    one INSERT of the events, locks, the rules) plus ~7 per award: the award, its transfer (a
    savepoint and one statement in wallet.services), the award's link to it, the outbox row, the
    leaderboard totals (their rank cells once per batch). Before issue 14 every event cost ~33."""
    for n in range(60):
        UserFactory(email=f"m{n}@example.com")
    warm = [event(f"warm{n}", email=f"m{n}@example.com") for n in range(60)]
    assert post_batch(client, {"events": warm}).json()["counts"]["applied"] == 60  # profiles, accounts exist

    one_event, more, per_event = LIMITS[connection.vendor]
    single = _queries(lambda: post_batch(client, {"events": [event("one", email="m58@example.com")]}))
    assert single <= one_event

    def batch(prefix: str, members: int, size: int):
        events = [event(f"{prefix}{i}", email=f"m{i % members}@example.com") for i in range(size)]
        return lambda: post_batch(client, {"events": events})

    ten, fifty = _queries(batch("b", 10, 10)), _queries(batch("c", 50, 50))
    assert (fifty - ten) / 40 <= more, (ten, fifty)  # what one more event costs
    assert fifty / 50 <= per_event, fifty
    assert _queries(batch("d", 1, 50)) / 50 <= per_event  # one member's 50 events
    assert _queries(batch("c", 50, 50)) <= 4  # replayed: signature, stored ids, savepoint; nothing written


def test_single_event_endpoint_query_count(client, integration):
    from tests.rewards.conftest import signed_post

    UserFactory(email="poster@example.com")
    signed_post(client, event("warm"))
    assert _queries(lambda: signed_post(client, event(1))) <= LIMITS[connection.vendor][0]  # 33 before issue 14
    assert _queries(lambda: signed_post(client, event(1))) <= 4  # a replay


# --- import_events -----------------------------------------------------------------------------


def test_import_events_records_through_the_batch_path(tmp_path, capsys, monkeypatch):
    Integration.objects.create(name="forum", secret="x")
    user = UserFactory(email="jsonl@example.com")
    calls = []
    real = services.events_record

    def spy(*, source, events):
        calls.append(len(events))
        return real(source=source, events=events)

    monkeypatch.setattr(services, "events_record", spy)
    lines = [json.dumps(event(n, email=user.email)) for n in range(12)]
    lines[5] = json.dumps(event(5, email=user.email, type="nope"))  # rejected by the service
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    call_command("import_events", str(path), "--integration", "forum", "--batch-size", "5")
    assert calls == [5, 5, 3]
    out = capsys.readouterr()
    assert "Done. 13 lines: 11 accepted, 1 replayed, 1 invalid" in out.out
    assert "line 6:" in out.err
    assert balance_for_user(user_id=user.pk).balance == 11 * 2000


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_concurrently_pays_each_event_once():
    """Three copies of one batch (in different orders) racing, as a forum retrying on a timeout
    would: every event is accepted exactly once, the others see duplicates, nothing fails (no
    deadlock: profiles, then accounts, are locked in id order) and every balance is exact."""
    import threading

    Integration.objects.create(name="forum", secret="s3cret-for-tests")
    members = [UserFactory(email=f"race{i}@example.com") for i in range(5)]
    specs = [
        services.EventSpec(
            event_id=f"race-{n}",
            type="answer.accepted",
            user_email=f"race{n % 5}@example.com",
            object_type="answer",
            object_id=f"r{n}",
        )
        for n in range(20)
    ]
    orders = [specs, specs[::-1], specs[7:] + specs[:7]]
    barrier = threading.Barrier(len(orders))
    outcomes: list[list[services.BatchItem]] = []

    def send(batch):
        try:
            barrier.wait()
            outcomes.append(services.events_record(source="forum", events=batch))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(batch,)) for batch in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [i.event_id for run in outcomes for i in run if i.outcome == services.Outcome.ACCEPTED]
    assert sorted(accepted) == sorted(s.event_id for s in specs)
    assert all(i.outcome != services.Outcome.REJECTED for run in outcomes for i in run)
    assert not ActivityEvent.objects.exclude(status=EventStatus.APPLIED).exists()
    for member in members:
        assert balance_for_user(user_id=member.pk).balance == 4 * 2000
