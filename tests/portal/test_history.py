"""The dashboard's history: rows name what was bought or earned, filter by type and date (a GET
form, validated), keep the filter while paging, and export the member's own rows as CSV."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from portal import exports
from tests.factories import UserFactory, fund
from wallet import services as wallet
from wallet.models import SystemAccount, TransferKind

pytestmark = pytest.mark.django_db


def _at(when: datetime):
    return mock.patch("django.utils.timezone.now", return_value=when)


def _spend(user, amount: str, *, memo: str, key: str) -> None:
    wallet.transfer_post(
        from_account=wallet.user_account(user_id=user.pk),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=int(Decimal(amount) * 100),
        kind=TransferKind.REDEEM,
        idempotency_key=key,
        memo=memo,
    )


@pytest.fixture
def member(client):
    user = UserFactory()
    with _at(datetime(2026, 3, 1, 12, tzinfo=UTC)):
        fund(user, "50.00", key="p1")
    with _at(datetime(2026, 3, 10, 23, 30, tzinfo=UTC)):  # 11 March in Shanghai
        fund(user, "5.00", key="e1", kind=TransferKind.EARN)
    with _at(datetime(2026, 4, 2, 9, tzinfo=UTC)):
        _spend(user, "12.50", memo='=HYPERLINK("http://evil","Reward")', key="s1")
    client.force_login(user)
    return user


def _subjects(response) -> list[str]:
    return [row.subject for row in response.context["page"].rows]


def test_rows_name_what_was_bought_or_earned(client, member):
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="history-subject"' in html
    assert _subjects(response) == ['=HYPERLINK("http://evil","Reward")', "Test funding", "Test funding"]


def test_filter_by_type(client, member):
    response = client.get(reverse("portal:dashboard"), {"type": "spending"})
    assert [r.kind for r in response.context["page"].rows] == ["redeem"]
    assert response.context["page"].total_count == 1
    response = client.get(reverse("portal:dashboard"), {"type": "earning"})
    assert [r.kind for r in response.context["page"].rows] == ["earn"]


def test_dates_are_whole_days_in_the_members_time_zone(client, member):
    with timezone.override("Asia/Shanghai"):
        response = client.get(reverse("portal:dashboard"), {"start": "2026-03-11", "end": "2026-03-11"})
    assert [r.kind for r in response.context["page"].rows] == ["earn"]
    with timezone.override("UTC"):
        response = client.get(reverse("portal:dashboard"), {"start": "2026-03-11", "end": "2026-03-11"})
    assert response.context["page"].rows == []
    assert b"No transactions match these filters." in response.content


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-13-45"}, "Enter the start date as YYYY-MM-DD."),
        ({"end": "yesterday"}, "Enter the end date as YYYY-MM-DD."),
        ({"start": "2026-04-02", "end": "2026-03-01"}, "The start date is after the end date."),
        ({"end": "9999-12-31"}, "Choose a date between 2000-01-01 and 2999-12-31."),
        ({"type": "gifts"}, "Choose a type from the list."),
    ],
)
def test_bad_filters_say_what_is_wrong_instead_of_failing(client, member, params, message):
    response = client.get(reverse("portal:dashboard"), params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(response.context["page"].rows) == 3  # the unfiltered history, under the message
    csv_response = client.get(reverse("portal:history_csv"), params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_paging_keeps_the_filter(client, member, monkeypatch):
    monkeypatch.setattr("portal.views.HISTORY_PAGE_SIZE", 1)
    fund(member, "1.00", key="p2")
    response = client.get(reverse("portal:dashboard"), {"type": "purchase"})
    html = response.content.decode()
    cursor = response.context["page"].next_cursor
    assert cursor and f'href="?type=purchase&amp;cursor={cursor}"' in html
    # The next page is still only purchases, with the filter kept in the CSV link as well.
    response = client.get(reverse("portal:dashboard"), {"type": "purchase", "cursor": cursor})
    assert [r.amount for r in response.context["page"].rows] == [Decimal("50.00")]
    assert response.context["page"].next_cursor is None
    assert 'href="/dashboard/history.csv?type=purchase"' in response.content.decode()


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_csv_is_the_members_own_filtered_rows(client, member):
    other = UserFactory()
    fund(other, "99.00", key="other")
    with timezone.override("Asia/Shanghai"):
        response = client.get(reverse("portal:history_csv"), {"end": "2026-03-31"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="history-')
    rows = _csv(response)
    assert rows[0] == ["Date", "Type", "Details", "Amount", "Balance after", "Transaction"]
    assert rows[1:] == [
        [rows[1][0], "Earned", "Test funding", "5.00", "55.00", rows[1][5]],
        [rows[2][0], "Purchase", "Test funding", "50.00", "50.00", rows[2][5]],
    ]
    assert rows[1][0] == "2026-03-11T07:30:00+08:00"  # ISO 8601, in the member's time zone


def test_csv_cells_cannot_run_as_formulas(client, member):
    rows = _csv(client.get(reverse("portal:history_csv"), {"type": "spending"}))
    assert rows[1][2] == '\'=HYPERLINK("http://evil","Reward")'
    assert rows[1][3] == "-12.50"  # our own numbers stay numbers
    assert exports.safe_text('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert exports.safe_text("@SUM(A1)") == "'@SUM(A1)"
    assert exports.safe_text("-2+3") == "'-2+3"


def test_csv_streams_in_chunks(client, member, monkeypatch):
    monkeypatch.setattr("portal.selectors.EXPORT_CHUNK", 2)
    rows = _csv(client.get(reverse("portal:history_csv")))
    assert [r[3] for r in rows[1:]] == ["-12.50", "5.00", "50.00"]


def test_history_needs_a_signed_in_member(client):
    for name in ("portal:dashboard", "portal:history_csv"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login" in response["Location"]


def test_history_speaks_chinese(client, member):
    zh = {"accept-language": "zh-CN,zh;q=0.9"}
    html = client.get(reverse("portal:dashboard"), headers=zh).content.decode()
    assert "交易记录" in html and ">全部类型</option>" in html and ">消费</option>" in html
    html = client.get(reverse("portal:dashboard"), {"start": "bad"}, headers=zh).content.decode()
    assert "请按 YYYY-MM-DD 格式填写开始日期。" in html
    rows = _csv(client.get(reverse("portal:history_csv"), headers=zh))
    assert rows[0] == ["日期", "类型", "详情", "金额", "变动后余额", "交易编号"]
    with translation.override("zh-hans"):  # the kinds' names are the wallet's (TransferKind labels)
        assert [r[1] for r in rows[1:]] == [str(TransferKind(k).label) for k in ("redeem", "earn", "purchase")]
