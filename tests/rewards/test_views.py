import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rewards import dashboard
from rewards.models import ActivityEvent, Bounty, Integration, Redemption, UserBadge
from tests.factories import RewardFactory, UserFactory, forum_event, fund
from tests.rewards.conftest import answer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def test_store_page_anonymous_and_empty(client):
    body = client.get("/rewards/").content.decode()
    assert "The store is empty right now" in body and "Sign in" in body


def test_store_page_shows_affordability_and_no_js_redeem_flow(client):
    user = UserFactory()
    fund(user, "120.00")
    ok = RewardFactory(name="Premium EA Access", price=10000, badge_label="Premium")
    RewardFactory(name="VIP Group Access", price=15000)
    client.force_login(user)
    body = client.get("/rewards/").content.decode()
    assert "You can afford this" in body and "Can't afford yet" in body
    assert 'id="redeem-modal"' in body
    confirm = client.get(f"/rewards/{ok.pk}/redeem/")
    assert confirm.status_code == 200 and "Balance after" in confirm.content.decode()
    unconfirmed = client.post(f"/rewards/{ok.pk}/redeem/", {"idempotency_key": "form-1"})
    assert unconfirmed.status_code == 200 and b"20.00 Credits" in unconfirmed.content  # asked, not charged
    assert not Redemption.objects.exists()
    done = client.post(f"/rewards/{ok.pk}/redeem/", {"idempotency_key": "form-1", "confirm": "1"}, follow=True)
    text = done.content.decode()
    assert "You redeemed Premium EA Access" in text and "★ Premium" in text
    client.post(f"/rewards/{ok.pk}/redeem/", {"idempotency_key": "form-1", "confirm": "1"})  # double submit
    assert Redemption.objects.count() == 1
    ask = client.get(f"/rewards/{ok.pk}/redeem/").content.decode()  # 20.00 left, 100.00 asked
    assert "You are 80.00 Credits short" in ask and 'href="/recharge/"' in ask
    short = client.post(f"/rewards/{ok.pk}/redeem/", {"idempotency_key": "form-2", "confirm": "1"}, follow=True)
    assert "You need" in short.content.decode() and Redemption.objects.count() == 1


def test_redeem_page_requires_login_and_404s(client):
    assert client.get("/rewards/1/redeem/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/rewards/999/redeem/").status_code == 404


def test_leaderboard_page_tabs_and_own_rank(client):
    users = [UserFactory(display_name=f"Member {i}") for i in range(12)]
    for i, u in enumerate(users):
        for k in range(i + 1):
            forum_event(u.email, "answer.accepted", f"{u.pk}-{k}")
    client.force_login(users[0])
    body = client.get("/rewards/leaderboard/?period=week").content.decode()
    assert "Member 11" in body and "Your rank: #12" in body
    assert client.get("/rewards/leaderboard/?period=bogus").status_code == 200
    client.logout()
    assert "Top contributors" in client.get("/rewards/leaderboard/").content.decode()


def test_leaderboard_empty_state(client):
    assert "Nobody has earned" in client.get("/rewards/leaderboard/").content.decode()


def test_bounty_pages(client):
    offerer, winner = UserFactory(), UserFactory(display_name="Winner")
    fund(offerer, "20.00")
    assert "No open bounties" in client.get("/rewards/bounties/").content.decode()
    client.force_login(offerer)
    offer = {"thread_ref": "t/5", "title": "Need help", "coins": "10.00", "expires_in_days": 7, "idempotency_key": "b1"}
    ask = client.post("/rewards/bounties/", offer)
    assert ask.status_code == 200 and b"10.00 Credits" in ask.content and not Bounty.objects.exists()
    response = client.post("/rewards/bounties/", offer | {"confirm": "1"})
    client.post("/rewards/bounties/", offer | {"confirm": "1"})  # a double submit offers once
    bounty = Bounty.objects.get()
    assert balance_for_user(user_id=offerer.pk).available == 1000
    assert response.status_code == 302
    assert "Need help" in client.get("/rewards/bounties/").content.decode()
    too_much = {"thread_ref": "t", "title": "x", "coins": "99", "expires_in_days": 7}
    ask = client.post("/rewards/bounties/", too_much).content.decode()
    assert "You are 89.00 Credits short" in ask and 'href="/recharge/"' in ask
    refused = client.post("/rewards/bounties/", too_much | {"confirm": "1"})
    assert "available" in refused.content.decode() and Bounty.objects.count() == 1
    answer(winner, "t/5", "a-55")
    page = client.get(f"/rewards/bounties/{bounty.pk}/").content.decode()
    assert 'value="a-55"' in page and "by Winner" in page and winner.email not in page
    client.post(f"/rewards/bounties/{bounty.pk}/award/", {"answer_id": "a-55"}, follow=True)
    assert "Awarded to Winner" in client.get(f"/rewards/bounties/{bounty.pk}/").content.decode()
    assert client.get("/rewards/bounties/999/").status_code == 404


def test_dashboard_panel_contract(rf):
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a")
    UserBadge.objects.create(user=user, label="Founder")
    request = rf.get("/dashboard/")
    request.user = user
    [panel] = dashboard.panels(request)
    assert panel.template == "rewards/_panel_profile.html" and isinstance(panel.order, int)
    widget = panel.context["widget"]
    assert widget.rank == 1 and widget.badges == ["Founder"] and str(widget.balance) == "20.00"
    from django.template.loader import render_to_string

    html = render_to_string(panel.template, {**panel.context, "user": user, "currency_name": "Credits"})
    assert "Redeem Credits" in html and "/r/" in html


def test_create_integration_command(capsys):
    call_command("create_integration", "discourse")
    out = capsys.readouterr().out
    secret = Integration.objects.get(name="discourse").secret
    assert secret in out
    with pytest.raises(CommandError):
        call_command("create_integration", "discourse")
    call_command("create_integration", "discourse", "--rotate")
    assert Integration.objects.get(name="discourse").secret != secret
    with pytest.raises(CommandError):
        call_command("create_integration", "Not A Slug")


def test_import_events_command(tmp_path, capsys):
    Integration.objects.create(name="forum", secret="x")
    user = UserFactory(email="jsonl@example.com")
    lines = [
        {
            "event_id": f"j{i}",
            "type": "answer.accepted",
            "user": {"email": user.email},
            "object": {"type": "answer", "id": i},
        }
        for i in range(3)
    ]
    path = tmp_path / "events.jsonl"
    too_deep = '{"data": ' + "[" * 5000 + "]" * 5000 + "}"  # the site's JSON guards apply to files too
    path.write_text("\n".join([*map(json.dumps, lines), json.dumps(lines[0]), "{broken", too_deep, ""]) + "\n")
    call_command("import_events", str(path), "--integration", "forum", "--progress-every", "2")
    out = capsys.readouterr()
    assert "2 lines:" in out.out and "Done. 6 lines: 3 accepted, 1 replayed, 2 invalid" in out.out
    assert ActivityEvent.objects.count() == 3
    with pytest.raises(CommandError):
        call_command("import_events", str(path), "--integration", "nope")


def test_bounty_page_follows_the_bounty_status(client):
    """Open: time left, and the offerer's award and cancel forms. Awarded: the end date and winner."""
    from rewards import services

    offerer, winner = UserFactory(), UserFactory(display_name="Wendy Winner")
    fund(offerer, "30.00")
    bounty = services.bounty_create(offerer_id=offerer.pk, thread_ref="t/1", title="Help me", amount=2000)
    client.force_login(offerer)
    page = client.get(f"/rewards/bounties/{bounty.pk}/").content.decode()
    assert "badge-green" in page and "Ends in" in page and "Cancel and get the Credits back" in page
    assert "No answer by a Goldbook member" in page
    answer(winner, "t/1", "a-1")
    assert "Award bounty" in client.get(f"/rewards/bounties/{bounty.pk}/").content.decode()
    services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="a-1")
    page = client.get(f"/rewards/bounties/{bounty.pk}/").content.decode()
    assert "badge-gold" in page and "Ended" in page and "Awarded to Wendy Winner" in page
    assert "Award bounty" not in page and "Ends in" not in page


def test_public_pages_never_show_a_part_of_the_email(client):
    """Issue 11 item 17: a member without a display name was shown as their email's local part on
    leaderboards, bounties and referral pages. Now they are "Member #<id>" until they choose one."""
    from rewards import services

    quiet = UserFactory(email="jane.doe.1984@example.com")
    named = UserFactory(email="secret.handle@example.com", display_name="Goldfinger")
    for user in (quiet, named):
        forum_event(user.email, "answer.accepted", f"a-{user.pk}")
    pages = [client.get("/rewards/leaderboard/").content.decode()]
    pages.append(json.dumps(client.get("/api/rewards/leaderboard").json()))
    fund(quiet, "10.00")
    bounty = services.bounty_create(offerer_id=quiet.pk, thread_ref="t/1", title="Help", amount=500)
    pages.append(client.get("/rewards/bounties/").content.decode())
    pages.append(client.get(f"/rewards/bounties/{bounty.pk}/").content.decode())
    pages.append(json.dumps(client.get("/api/rewards/bounties").json()))
    code = services.profile_ensure(user_id=quiet.pk).referral_code
    pages.append(client.get(f"/r/{code}", follow=True).content.decode())
    for page in pages:
        assert "jane.doe" not in page and "secret.handle" not in page
    assert f"Member #{quiet.pk}" in pages[0] and "Goldfinger" in pages[0]
    assert f"Member #{quiet.pk}" in pages[-1]
