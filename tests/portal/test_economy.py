"""The staff economy page (issue 13) on a crafted history with exact figures, its CSV, the
monthly command and email, the permission, and the ledger reconciliation it reports."""

import csv
import io
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from payments import services as payments
from portal.economy import queries, rollups
from portal.economy.mail import send_month_report
from portal.economy.report import build, month_period
from portal.models import EconomyRollup, EconomyRollupState, LedgerAuditRun
from rewards import services as rewards
from tests.factories import RewardFactory, UserFactory, credit_package, forum_event, staff, verify_email
from wallet.models import Account

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = "?first=2026-11-01&last=2026-11-30"


@contextmanager
def at(local: str):
    """Everything inside happens at this Shanghai wall-clock time."""
    moment = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def buy(user, package: str):
    payment = payments.demo_checkout(user=user, quote=payments.quote(package_id=credit_package(package).pk))
    return payments.demo_pay(payment_id=payment.pk, user=user)


@pytest.fixture
def history(settings):
    """November 2026 in Shanghai: alice buys Popular ($50: 50 + 25 bonus), earns an accepted
    answer (20), spends 10 in the store; bob buys Starter ($25: 25 + 15) at 01:00 on the 4th
    (still the 3rd in UTC), refunded on the 8th; carol's Starter on 31 October is outside."""
    settings.DEBUG = True
    for key in ("COINPAYMENTS_PUBLIC_KEY", "COINPAYMENTS_PRIVATE_KEY", "COINPAYMENTS_MERCHANT_ID"):
        setattr(settings, key, "")
    settings.COINPAYMENTS_IPN_SECRET, settings.E9TH_RPC_URL = "", ""
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    carol = UserFactory(email="carol@example.com")
    verify_email(alice)  # the forum's events credit a verified address only
    with at("2026-10-31T23:00"):
        buy(carol, "Starter Pack")
    with at("2026-11-03T10:00"):
        buy(alice, "Popular Pack")
    with at("2026-11-04T01:00"):
        paid = buy(bob, "Starter Pack")
    with at("2026-11-05T12:00"):
        forum_event(alice.email, "answer.accepted", "answer-1")
    with at("2026-11-06T12:00"):
        rewards.reward_redeem(user_id=alice.pk, reward_id=RewardFactory(price=1000).pk)
    maker, checker = staff("payments.request_refund"), staff("payments.approve_refund")
    with at("2026-11-08T09:00"):
        request = payments.refund_request(payment_id=paid.pk, requested_by_id=maker.pk, reason="Asked")
        payments.refund_approve(request_id=request.pk, approver_id=checker.pk)
    return {"alice": alice, "bob": bob, "carol": carol}


def november():
    return month_period(date(2026, 11, 1), SHANGHAI)


def test_revenue_by_day_in_the_site_zone(history):
    rows = {d: (n, cents) for d, n, cents in queries.revenue_by_day(november())}
    assert len(rows) == 30
    assert rows[date(2026, 11, 3)] == (1, 5000)
    assert rows[date(2026, 11, 4)] == (1, 2500)  # 17:00 UTC on the 3rd: the 4th in Shanghai
    assert sum(n for n, _ in rows.values()) == 2  # carol's 31 October purchase is outside
    utc = month_period(date(2026, 11, 1), ZoneInfo("UTC"))
    assert {d: n for d, n, _ in queries.revenue_by_day(utc) if n} == {date(2026, 11, 3): 2}


def test_sales_refunds_and_headline_figures(history):
    report = build(november())
    figures = {str(label): value for label, value in report.figures}
    assert figures["Revenue (USD)"] == Decimal("75.00")
    assert figures["Payments"] == 2
    assert figures["Average purchase (USD)"] == Decimal("37.50")
    assert figures["Refunds"] == 1
    assert figures["Refunded (USD)"] == Decimal("25.00")
    assert report.table("revenue_by_provider").rows == [["Demo (no real money)", "DEMO", 2, Decimal("75.00")]]
    assert report.table("packages").rows == [
        ["Popular Pack", 1, Decimal("50.00"), Decimal("50.00")],
        ["Starter Pack", 1, Decimal("25.00"), Decimal("25.00")],
    ]


def test_credits_issued_by_source_against_spent_by_sink(history):
    flows = queries.credit_flows(november())
    assert flows.sources == {"purchase": 7500, "bonus": 4000, "rewards": 2000}
    assert flows.sinks == {"store": 1000, "taken_back": 4000}  # the refund took back 25 + 15
    assert flows.rules == [("Accepted answer", 1, 2000)]


def test_liability_reconciles_with_balances(history):
    owed = queries.liability(datetime(2026, 12, 1, tzinfo=SHANGHAI))
    # alice: paid 50, bonus 25 - 10 spent (promotional first), earned 20; carol: paid 25, bonus 15
    assert owed.by_category == {"paid": 7500, "bonus": 3000, "earned": 2000, "granted": 0}
    assert owed.paid == 7500 and owed.promotional == 5000
    assert owed.balances == 12500 and owed.reconciled
    figures = {str(label): value for label, value in build(november()).figures}
    assert figures["Owed for paid credits (USD)"] == Decimal("75.00")


def test_flows_since_the_beginning_add_up_to_members_balances(history):
    """Issued − spent over all time is exactly what members hold (the ledger's own sum)."""
    flows = queries.credit_flows(month_period(date(2026, 10, 1), SHANGHAI))
    later = queries.credit_flows(november())
    held = sum(Account.objects.filter(user__isnull=False).values_list("balance", flat=True))
    assert flows.issued - flows.spent + later.issued - later.spent == held == 12500


def test_top_members_and_balances(history):
    report = build(november())
    assert report.table("top_earners").rows == [["alice@example.com", Decimal("20.00")]]
    assert report.table("top_spenders").rows == [["alice@example.com", Decimal("10.00")]]
    assert report.table("biggest_balances").rows == [
        ["alice@example.com", Decimal("85.00"), Decimal("50.00")],
        ["carol@example.com", Decimal("40.00"), Decimal("25.00")],
    ]
    assert report.table("reward_rules").rows == [["Accepted answer", 1, Decimal("20.00")]]


def test_page_shows_charts_and_numbers_to_staff_with_the_permission(client, history):
    client.force_login(staff("portal.view_economy"))
    response = client.get("/admin/portal/economy/" + NOVEMBER)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="eco-chart" role="img"') == 6
    assert "<title>Revenue by day</title>" in html
    assert "Asia/Shanghai" in html and 'Revenue: <span class="usd">US$75.00</span>' in html
    assert 'data-testid="audit"' in html and "never run" in html


def test_period_fields_hold_iso_dates_in_chinese_too(client):
    client.force_login(staff("portal.view_economy"))
    with at("2026-11-30T12:00"):  # the default period: the last 30 days
        html = client.get("/admin/portal/economy/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'name="first" value="2026-11-01"' in html and 'name="last" value="2026-11-30"' in html


def test_page_says_the_members_own_zone(client, history):
    user = staff("portal.view_economy")
    user.time_zone = "UTC"
    user.save(update_fields=["time_zone"])
    client.force_login(user)
    html = client.get("/admin/portal/economy/" + NOVEMBER).content.decode()
    assert "days in UTC" in html and "your time zone" in html


def test_bad_period_is_refused_with_a_message(client):
    client.force_login(staff("portal.view_economy"))
    response = client.get("/admin/portal/economy/?first=2026-11-30&last=2026-11-01")
    assert response.status_code == 200
    assert "The period must start on or before its last day." in response.content.decode()


def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get("/admin/portal/economy/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/admin/portal/economy/report.csv").status_code == 302


def test_members_and_staff_without_the_permission_are_refused(client):
    client.force_login(UserFactory())
    assert client.get("/admin/portal/economy/")["Location"].startswith("/admin/login/")
    client.force_login(staff())
    assert client.get("/admin/portal/economy/").status_code == 403
    assert client.get("/admin/portal/economy/report.csv").status_code == 403
    assert b"/admin/portal/economy/" not in client.get("/admin/").content


def test_admin_index_links_the_page(client):
    client.force_login(staff("portal.view_economy"))
    assert b'href="/admin/portal/economy/"' in client.get("/admin/").content


def test_csv_holds_every_table_with_the_period_in_its_name(client, history):
    client.force_login(staff("portal.view_economy"))
    response = client.get("/admin/portal/economy/report.csv" + NOVEMBER)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="goldbook-economy_2026-11-01_2026-11-30.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["Revenue (USD)", "75.00"] in rows
    assert ["2026-11-04", "1", "25.00"] in rows
    assert ["Issued", "Rewards (by rule)", "20.00"] in rows
    assert ["Spent", "Store", "10.00"] in rows
    assert ["Paid", "75.00", "75.00"] in rows
    assert ["carol@example.com", "40.00", "25.00"] in rows
    for title in ("Revenue by day", "Credits issued and spent", "Top spenders", "Reward rules by coins paid"):
        assert [title] in rows


def test_csv_of_one_table(client, history):
    client.force_login(staff("portal.view_economy"))
    response = client.get("/admin/portal/economy/report.csv" + NOVEMBER + "&table=packages")
    assert response["Content-Disposition"].endswith('2026-11-30_packages.csv"')
    assert response.content.decode().splitlines() == [
        "Package,Payments,Revenue (USD),Average (USD)",
        "Popular Pack,1,50.00,50.00",
        "Starter Pack,1,25.00,25.00",
    ]
    assert client.get("/admin/portal/economy/report.csv?table=nope").status_code == 404


def test_monthly_command_writes_the_same_report(history, tmp_path, capsys):
    target = tmp_path / "november.csv"
    call_command("economy_report", "--month", "2026-11", "--output", str(target))
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == ["Goldbook economy report", "2026-11-01", "2026-11-30", "Asia/Shanghai"]
    assert ["Revenue (USD)", "75.00"] in rows and ["Refunds", "1"] in rows
    call_command("economy_report", "--month", "2026-10")
    assert ["Revenue (USD)", "25.00"] in list(csv.reader(io.StringIO(capsys.readouterr().out)))


def test_monthly_command_refuses_a_bad_month():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="2026-11"):
        call_command("economy_report", "--month", "November")


def test_beat_emails_last_months_report(history, settings, mailoutbox):
    assert django_settings.CELERY_BEAT_SCHEDULE["portal-economy-report"]["task"] == "portal.economy_report_monthly"
    settings.GOLDBOOK_ECONOMY_REPORT_EMAILS = ["books@example.com", "owner@example.com"]
    from portal.tasks import economy_report_monthly

    with at("2026-12-01T09:00"):
        assert economy_report_monthly() == 2
    [message] = mailoutbox
    assert message.to == ["books@example.com", "owner@example.com"]
    assert "2026-11" in message.subject
    [(name, body, mime)] = message.attachments
    assert name == "goldbook-economy_2026-11-01_2026-11-30.csv" and mime == "text/csv"
    assert "Revenue (USD),75.00" in body


def test_no_recipients_no_email(settings, mailoutbox):
    settings.GOLDBOOK_ECONOMY_REPORT_EMAILS = []
    assert send_month_report(month=date(2026, 11, 1)) == 0
    assert mailoutbox == []


def test_ledger_audit_result_reaches_the_page(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("audit_ledger", "--no-progress", stdout=io.StringIO())
    run = LedgerAuditRun.objects.get()
    assert run.ok and run.summary
    client.force_login(staff("portal.view_economy"))
    html = client.get("/admin/portal/economy/").content.decode()
    assert "Last ledger audit" in html and "consistent" in html


def test_page_renders_on_the_seeded_demo_data(client, settings):
    settings.DEBUG = True  # seed_demo runs only there
    call_command("seed_demo", stdout=io.StringIO())
    client.force_login(staff("portal.view_economy"))
    response = client.get("/admin/portal/economy/")
    assert response.status_code == 200
    assert b'class="eco-ok" data-testid="reconciled"' in response.content


def test_rollups_and_live_reads_give_the_same_figures(history):
    live = queries.credit_flows(november())
    assert rollups.complete_until() is None
    with at("2026-11-05T12:30"):  # halfway through the history: the rest is read live
        done = rollups.refresh()
    assert done.until == datetime(2026, 11, 5, 4, tzinfo=UTC) and done.rows > 0
    assert queries.credit_flows(november()) == live
    with at("2026-12-02T10:00"):
        rollups.refresh()
    assert EconomyRollup.objects.filter(hour__gte=datetime(2026, 11, 5, 2, tzinfo=UTC)).exists()
    assert queries.credit_flows(november()) == live
    kolkata = month_period(date(2026, 11, 1), ZoneInfo("Asia/Kolkata"))  # +05:30: part hours at the ends
    rollups_state = rollups.complete_until()
    EconomyRollupState.objects.filter(pk=1).update(complete_until=None)
    expected = queries.credit_flows(kolkata)
    EconomyRollupState.objects.filter(pk=1).update(complete_until=rollups_state)
    assert queries.credit_flows(kolkata) == expected


def test_rollup_reconciliation_finds_a_difference(client, history):
    with at("2026-12-02T10:00"):
        rollups.refresh()
    assert rollups.reconcile() == []
    client.force_login(staff("portal.view_economy"))
    assert b'class="eco-ok" data-testid="rollups"' in client.get("/admin/portal/economy/").content
    row = EconomyRollup.objects.get(metric="out", key="redeem")
    EconomyRollup.objects.filter(pk=row.pk).update(amount=row.amount + 1)
    assert rollups.reconcile() == ["out redeem: rollups [1001, 1] ledger [1000, 1]"]
    assert b'class="eco-bad" data-testid="rollups"' in client.get("/admin/portal/economy/").content


def test_rollup_command(history):
    out = io.StringIO()
    with at("2026-12-02T10:00"):
        call_command("economy_rollup", "--reconcile", stdout=out)
    assert "The rollups reconcile with the ledger." in out.getvalue()
    assert django_settings.CELERY_BEAT_SCHEDULE["portal-economy-rollup"]["task"] == "portal.economy_rollup_refresh"


def test_average_rounds_to_the_cent():
    from portal.economy.report import average

    assert average(1001, 2) == Decimal("5.01")  # 5.005 → 5.01
    assert average(1000, 3) == Decimal("3.33")
    assert average(0, 0) == Decimal("0.00")
