import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from rewards.models import Integration


@pytest.fixture(autouse=True)
def _members_have_verified_their_address(request):
    """Events credit a verified address only (issue 11 item 1). Members made in these tests have
    verified theirs, as after clicking the link; tests of unverified addresses take `unverified`."""
    if "unverified" in request.fixturenames:
        yield
        return
    from allauth.account.models import EmailAddress
    from django.db.models.signals import post_save

    from accounts.models import User

    def verified(sender, instance, created, **kwargs):
        if created and instance.email:
            EmailAddress.objects.get_or_create(
                user=instance, email=instance.email, defaults={"primary": True, "verified": True}
            )

    post_save.connect(verified, sender=User, dispatch_uid="tests.rewards.verified")
    yield
    post_save.disconnect(sender=User, dispatch_uid="tests.rewards.verified")


@pytest.fixture
def unverified():
    """Members made in this test have not verified their address."""


@pytest.fixture
def integration(db):
    return Integration.objects.create(name="forum", secret="s3cret-for-tests")


def sign(raw: bytes, *, secret: str = "s3cret-for-tests", timestamp: int | str | None = None) -> tuple[str, str]:
    """(timestamp, signature) as a forum sends them: HMAC-SHA256 of "<timestamp>." + raw body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return stamp, "sha256=" + digest


def signed_post(
    client: Client,
    body: object,
    *,
    name: str = "forum",
    secret: str = "s3cret-for-tests",
    sig=None,
    timestamp: int | str | None = None,
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp, signature = sign(raw, secret=secret, timestamp=timestamp)
    return client.post(
        "/api/rewards/events",
        data=raw,
        content_type="application/json",
        HTTP_X_GOLDBOOK_INTEGRATION=name,
        HTTP_X_GOLDBOOK_SIGNATURE=signature if sig is None else sig,
        HTTP_X_GOLDBOOK_TIMESTAMP=stamp,
    )


def answer(user, thread_ref: str, answer_id: str):
    """The forum reports `user`'s answer `answer_id` on `thread_ref` (what a bounty is awarded to)."""
    from tests.factories import forum_event

    return forum_event(user.email, "answer.posted", answer_id, data={"thread_ref": thread_ref})


def upvote(email: str, post: str, voters: int, *, start: int = 0):
    from tests.factories import forum_event

    for v in range(start, start + voters):
        forum_event(email, "post.upvoted", post, voter=f"voter{v}@forum.test", event_id=f"up:{post}:{v}")


@pytest.fixture(autouse=True)
def _sql_leaderboard_unless_asked(request, settings):
    """Redis is fed on commit, which a rolled-back test transaction never reaches: tests read the
    SQL aggregates unless they take `redis_board` (and run with transaction=True)."""
    if "redis_board" not in request.fixturenames:
        settings.REWARDS_LEADERBOARD_BACKEND = "sql"


@pytest.fixture
def redis_board(settings):
    from rewards.selectors import redis_client

    settings.REWARDS_LEADERBOARD_BACKEND = "auto"
    client = redis_client()
    assert client is not None, "mark the test @pytest.mark.redis"
    for key in client.scan_iter(match=f"{settings.REWARDS_REDIS_PREFIX}:*"):
        client.delete(key)
    yield client
    for key in client.scan_iter(match=f"{settings.REWARDS_REDIS_PREFIX}:*"):
        client.delete(key)
