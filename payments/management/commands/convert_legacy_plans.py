"""Convert holders of the old time-based plans to credits (seed 002's table).

CSV with a header row: `email,plan` and optionally `legacy_id` (the old purchase id). Plans:
"Quick Download" ($4.99 → 5 credits) and "Pro Access" ($49.99 → 50 credits). Each row is
credited once, keyed by legacy_id (or email + plan + line content when there is none), so a
rerun credits nobody twice. Every row is checked first; a file with a bad row converts nothing.
"""

import csv
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from payments import services
from payments.models import LegacyConversion

Row = tuple[dict[str, str], int]  # (lower-cased columns, line number)


class PlanRow(NamedTuple):
    line: int
    user: User
    plan: str
    label: str
    credits: Decimal
    key: str


class Command(BaseCommand):
    help = "Convert old Quick Download / Pro Access plan holders to credits. Use --dry-run first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv_file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; change nothing.")

    def handle(self, *args: object, **options: object) -> None:
        path = options["csv_file"]
        assert isinstance(path, Path)  # argparse built it with type=Path
        rows = _read_rows(path)
        plan_rows, errors = _check_rows(rows)
        done = set(
            LegacyConversion.objects.filter(row_key__in=[r.key for r in plan_rows]).values_list("row_key", flat=True)
        )
        todo = [r for r in plan_rows if r.key not in done]
        self.stdout.write(
            f"{len(rows)} row(s): {len(todo)} to convert, {len(plan_rows) - len(todo)} already converted, "
            f"{len(errors)} with errors."
        )
        for r in todo:
            self.stdout.write(f"  line {r.line}: {r.user.email} {r.label} → {r.credits} credits")
        for error in errors:
            self.stderr.write(f"  {error}")
        if errors:
            raise CommandError(f"{len(errors)} bad row(s); fix them and run again. Nothing was converted.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        for r in todo:
            services.legacy_plan_convert(user=r.user, plan=r.plan, row_key=r.key)
        self.stdout.write(self.style.SUCCESS(f"Converted {len(todo)} plan holder(s)."))


def _read_rows(path: Path) -> list[Row]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            if "email" not in header or "plan" not in header:
                raise CommandError(f"{path}: the header must name the columns email and plan (got {header}).")
            return [
                ({(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}, reader.line_num)
                for row in reader
            ]
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CommandError(f"{path} is not a readable UTF-8 CSV file: {exc}") from exc


def _check_rows(rows: list[Row]) -> tuple[list[PlanRow], list[str]]:
    """Every row checked before any is converted: (good rows, one error per bad row)."""
    plan_rows: list[PlanRow] = []
    errors: list[str] = []
    seen: set[str] = set()
    for row, line in rows:
        email, plan = row.get("email", ""), row.get("plan", "")
        legacy_id = row.get("legacy_id", "")
        if plan.lower() not in services.LEGACY_PLANS:
            errors.append(f"line {line}: unknown plan {plan!r} (expected Quick Download or Pro Access)")
            continue
        user = User.objects.filter(email__iexact=email).first() if email else None
        if user is None:
            errors.append(f"line {line}: no member with email {email!r}")
            continue
        label, credits = services.LEGACY_PLANS[plan.lower()]
        key = f"legacy:{legacy_id}" if legacy_id else f"legacy:{email.lower()}:{label}"
        if key in seen:
            errors.append(f"line {line}: duplicate of an earlier row ({key})")
            continue
        seen.add(key)
        plan_rows.append(PlanRow(line, user, plan, label, credits, key))
    return plan_rows, errors
