"""Granting awards in runs (issue 14): an intake run decides every award of its events in memory
first (`awards._award`: limits, boosters, the daily cap and the generation, through AwardCache),
then writes them together (`AwardRun.post`): the Award rows in one INSERT, their EARN transfers in
ONE `wallet.services.transfers_post_batch` call (same idempotency keys as one at a time), the
awards' links to them in one UPDATE, the AWARD_GRANTED outbox rows in one INSERT and the
leaderboard totals in one statement. Then, pass 2: reward debt is recovered from the fresh awards
of the members whose profile still owes (rare: one transfer each, as before). A run of one event
takes the same path. Package-private to `rewards.services`; the caller holds the members' profile
locks, so what pass 1 decided cannot change before pass 2 writes it."""

import logging
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Model

from core.events import Event, record_many
from wallet import services as wallet
from wallet.errors import InsufficientFunds
from wallet.models import Currency, SystemAccount, Transfer, TransferKind

from ..models import Award, Booster, DebtRecovery, EarningRule, RewardDebt, RewardProfile
from ._cache import AwardCache
from ._shared import idem_key
from .leaderboards import totals_add_many

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Grant:
    """One award decided by pass 1, written by `AwardRun.post`. Its text is the event's note
    (read once the run is posted: it names the debt recovered from it)."""

    award: Award
    rule: EarningRule
    booster: Booster | None
    profile: RewardProfile
    currency: Currency
    recovered: int = 0

    def __str__(self) -> str:
        note = f"{self.rule.name}: +{self.currency.to_decimal(self.award.amount)}"
        if self.recovered:
            note += f" (debt recovered {self.currency.to_decimal(self.recovered)})"
        return note


class AwardRun:
    """The awards a run of events has decided and not written yet."""

    def __init__(self, cache: AwardCache) -> None:
        self.cache = cache
        self._grants: list[Grant] = []

    def add(self, grant: Grant) -> Grant:
        self._grants.append(grant)
        self.cache.awarded(grant.award)
        return grant

    def post(self) -> None:
        """Write the awards decided so far (see the module's docstring). Called at the end of a
        run, and before anything that reads awards back from the database (a reversal)."""
        grants, self._grants = self._grants, []
        if not grants:
            return
        awards = [g.award for g in grants]
        # PostgreSQL: take the awards' ids first, post the transfers (their cause), then INSERT the
        # awards with their transfer: no second write of every award row (ten indexes; the link
        # column is one of them, so an UPDATE rewrites them all). Elsewhere: insert, post, link.
        early = connection.vendor == "postgresql"
        if early:
            for award, pk in zip(awards, _new_ids(Award, len(awards)), strict=True):
                award.pk = pk
        else:
            Award.objects.bulk_create(awards)
        transfers = self._post_transfers(grants)
        for award, transfer in zip(awards, transfers, strict=True):
            award.transfer = transfer
        if early:
            Award.objects.bulk_create(awards)
        else:
            Award.objects.bulk_update(awards, ["transfer"])
        record_many(
            Event.AWARD_GRANTED,
            [
                {"award_id": g.award.pk, "user_id": g.award.user_id, "amount": g.award.amount, "rule": g.rule.name}
                for g in grants
            ],
        )
        totals_add_many((a.user_id, a.created_at, a.amount) for a in awards)
        for a in awards:
            logger.info("Award #%s: %s to user #%s for %s", a.pk, a.amount, a.user_id, a.object_key)
        for g in grants:  # pass 2: only members who owe (their profile is locked: exact)
            if g.profile.debt > 0:
                g.recovered = _recover_debt(profile=g.profile, award=g.award)

    def _post_transfers(self, grants: list[Grant]) -> list[Transfer]:
        """The awards' EARN transfers, in ONE ledger call (keys as when they were posted one by one)."""
        pool = self.cache.pool()
        specs = [
            wallet.TransferSpec(
                from_account=pool,
                to_account=self.cache.account(g.award.user_id),
                amount=g.award.amount,
                kind=TransferKind.EARN,
                idempotency_key=_earn_key(g.award),
                memo=g.rule.name + (f" ({g.booster.name})" if g.booster else ""),
                cause=g.award,
            )
            for g in grants
        ]
        if len(specs) > 1:
            return wallet.transfers_post_batch(transfers=specs)
        spec = specs[0]  # the same call on PostgreSQL; on SQLite no batch savepoint around it
        return [
            wallet.transfer_post(
                from_account=spec.from_account,
                to_account=spec.to_account,
                amount=spec.amount,
                kind=spec.kind,
                idempotency_key=spec.idempotency_key,
                memo=spec.memo,
                cause=spec.cause,
            )
        ]


def _earn_key(award: Award) -> str:
    """The key an award's EARN transfer has always had (one at a time or in a run)."""
    return idem_key("rewards:earn", award.rule_id, award.user_id, award.object_key, award.generation)


def _new_ids(model: type[Model], n: int) -> list[int]:
    """`n` ids from the table's identity sequence (PostgreSQL), for rows inserted later."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n])
        return [int(row[0]) for row in cursor.fetchall()]


def _recover_debt(*, profile: RewardProfile, award: Award) -> int:
    """Pay down the user's reward debt from a fresh award (profile locked). Returns the amount."""
    if profile.debt <= 0:
        return 0
    budget = award.amount
    recovered = 0
    for debt in RewardDebt.objects.filter(user_id=profile.user_id, recovered__lt=F("amount")).order_by("pk"):
        take = min(debt.outstanding, budget)
        if take <= 0:
            break
        try:
            transfer = wallet.transfer_post(
                from_account=wallet.user_account(user_id=profile.user_id),
                to_account=wallet.system_account(name=SystemAccount.REWARDS_POOL),
                amount=take,
                kind=TransferKind.REVERSAL,
                idempotency_key=idem_key("rewards:recover", debt.pk, award.pk),
                memo=f"Recovery of reversed reward #{debt.award_id}",
                cause=debt,
            )
        except InsufficientFunds:
            break  # spent meanwhile; the debt waits for the next award
        DebtRecovery.objects.create(debt=debt, award=award, amount=take, transfer=transfer)
        RewardDebt.objects.filter(pk=debt.pk).update(recovered=F("recovered") + take)
        budget -= take
        recovered += take
    if recovered:
        profile.debt -= recovered
        profile.save(update_fields=["debt"])
    return recovered
