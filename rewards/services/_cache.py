"""What applying a run of events looks up again and again, read once per run (one intake request,
one import chunk, one member's pending events): live earning rules by event type, a rule's
booster, the deleted objects the run names, the reward pool and members' wallet accounts, the
currency, and each member's use of today's daily cap. Package-private to `rewards.services`.

A cache lives for one run inside one transaction, so it never outlives what it read: rules or
boosters changed by staff meanwhile apply from the next request. The daily-cap figure is exact
because every award and reversal of a member runs under their profile lock and updates it here
(`cap_spent`, `cap_forget`)."""

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db.models import Sum

from wallet import services as wallet
from wallet.models import Account, Currency, SystemAccount
from wallet.selectors import default_currency

from ..models import Award, AwardStatus, Booster, DeletedObject, EarningRule


class AwardCache:
    def __init__(self) -> None:
        self._rules: dict[str, list[EarningRule]] = {}
        self._boosters: dict[int, Booster | None] = {}
        self._deleted: set[str] = set()
        self._not_deleted: set[str] = set()
        self._accounts: dict[int, Account] = {}
        self._pool: Account | None = None
        self._currency: Currency | None = None
        self._cap_used: dict[int, tuple[datetime, int]] = {}  # user id: (UTC day, minor units)
        # (rule, user, object key): {award status: highest generation}, for the (user, key) pairs read
        self._history: dict[tuple[int, int, str], dict[str, int]] = {}
        self._history_read: set[tuple[int, str]] = set()
        # (rule, user, since or None for ever): active awards counted, the run's own included
        self._rule_counts: dict[tuple[int, int, datetime | None], int] = {}

    def rules(self, event_type: str, at: datetime) -> list[EarningRule]:
        if event_type not in self._rules:
            self._rules[event_type] = list(
                EarningRule.objects.filter(event_type=event_type, is_active=True).order_by("pk")
            )
        return [rule for rule in self._rules[event_type] if rule.is_live(at)]

    def booster(self, rule: EarningRule, now: datetime) -> Booster | None:
        if rule.pk not in self._boosters:
            self._boosters[rule.pk] = (
                Booster.objects.filter(rules=rule, is_active=True, starts_at__lte=now, ends_at__gt=now)
                .order_by("-multiplier", "pk")
                .first()
            )
        return self._boosters[rule.pk]

    def prefetch_deleted(self, object_keys: Iterable[str]) -> None:
        keys = set(object_keys) - self._deleted - self._not_deleted
        if keys:
            found = set(DeletedObject.objects.filter(object_key__in=keys).values_list("object_key", flat=True))
            self._deleted |= found
            self._not_deleted |= keys - found

    def is_deleted(self, object_key: str) -> bool:
        self.prefetch_deleted([object_key])
        return object_key in self._deleted

    def mark_deleted(self, object_key: str) -> None:
        self._deleted.add(object_key)
        self._not_deleted.discard(object_key)

    def pool(self) -> Account:
        if self._pool is None:
            self._pool = wallet.system_account(name=SystemAccount.REWARDS_POOL)
        return self._pool

    def prefetch_accounts(self, user_ids: Iterable[int]) -> None:
        """Read the members' wallet accounts in one query (a missing one is created on first use)."""
        todo = set(user_ids) - set(self._accounts)
        if todo:
            code = settings.GOLDBOOK_CURRENCY_CODE
            for account in Account.objects.select_related("currency").filter(user_id__in=todo, currency_id=code):
                self._accounts[account.user_id] = account  # type: ignore[index]

    def account_order(self, user_id: int) -> tuple[int, int]:
        """Sort key: members by wallet account id (accounts not made yet last), the order the
        wallet locks accounts in, so a run crediting several members never waits in a cycle
        with a transfer between two of them."""
        account = self._accounts.get(user_id)
        return (0, account.pk) if account is not None else (1, user_id)

    def account(self, user_id: int) -> Account:
        if user_id not in self._accounts:
            self._accounts[user_id] = wallet.user_account(user_id=user_id)
        return self._accounts[user_id]

    def currency(self) -> Currency:
        if self._currency is None:
            self._currency = default_currency()
        return self._currency

    def cap_used(self, user_id: int, day: datetime) -> int:
        """Minor units `user_id` earned today (UTC day `day`) in awards that count toward the cap."""
        known = self._cap_used.get(user_id)
        if known is None or known[0] != day:
            today = Award.objects.filter(
                user_id=user_id, status=AwardStatus.ACTIVE, counts_toward_cap=True, created_at__gte=day
            )
            known = (day, today.aggregate(s=Sum("amount"))["s"] or 0)
            self._cap_used[user_id] = known
        return known[1]

    def cap_spent(self, user_id: int, day: datetime, amount: int) -> None:
        known = self._cap_used.get(user_id)
        if known is not None and known[0] == day:
            self._cap_used[user_id] = (day, known[1] + amount)

    def cap_forget(self, user_id: int) -> None:
        """After a reversal (or a rolled-back run): read the member's figures again next time."""
        self._cap_used.pop(user_id, None)
        for key in [k for k in self._rule_counts if k[1] == user_id]:
            del self._rule_counts[key]

    def rule_count(self, rule_id: int, user_id: int, since: datetime | None) -> int:
        """How many active awards `rule_id` made to `user_id` (since `since`, or ever), counting
        the ones this run decided and has not written yet (`awarded`)."""
        key = (rule_id, user_id, since)
        if key not in self._rule_counts:
            mine = Award.objects.filter(rule_id=rule_id, user_id=user_id, status=AwardStatus.ACTIVE)
            self._rule_counts[key] = (mine if since is None else mine.filter(created_at__gte=since)).count()
        return self._rule_counts[key]

    def prefetch_history(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Read the awards of these (user, object key) pairs in one query."""
        todo = set(pairs) - self._history_read
        if not todo:
            return
        rows = Award.objects.filter(
            user_id__in={user for user, _ in todo}, object_key__in={key for _, key in todo}
        ).values_list("rule_id", "user_id", "object_key", "status", "generation")
        for rule_id, user_id, key, status, generation in rows:
            if (user_id, key) in todo:
                self._note(rule_id, user_id, key, status, generation)
        self._history_read |= todo

    def history(self, rule_id: int, user_id: int, object_key: str) -> dict[str, int]:
        """{status: highest generation} of the awards `rule_id` made to `user_id` for the object."""
        self.prefetch_history([(user_id, object_key)])
        return self._history.get((rule_id, user_id, object_key), {})

    def _note(self, rule_id: int, user_id: int, key: str, status: str, generation: int) -> None:
        entry = self._history.setdefault((rule_id, user_id, key), {})
        entry[status] = max(entry.get(status, 0), generation)

    def awarded(self, award: Award) -> None:
        """A new award of this run (written or not yet): history, per-member counts."""
        self._note(award.rule_id, award.user_id, award.object_key, award.status, award.generation)
        for rule_id, user_id, since in list(self._rule_counts):
            if (rule_id, user_id) == (award.rule_id, award.user_id) and (since is None or award.created_at >= since):
                self._rule_counts[(rule_id, user_id, since)] += 1

    def history_forget(self, user_id: int, object_key: str) -> None:
        """After a reversal: read this object's awards again next time."""
        self._history_read.discard((user_id, object_key))
        for key in [k for k in self._history if k[1:] == (user_id, object_key)]:
            del self._history[key]
