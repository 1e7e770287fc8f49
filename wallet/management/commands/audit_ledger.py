import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wallet.audit import SHOW, AuditResult, record_audit, run_audit, totals_ok


class Command(BaseCommand):
    help = (
        "Recompute every account from its entries and check the ledger's invariants: transfers "
        "balanced, cached balances, holds and versions matching, nothing negative. Prints a report "
        "and exits non-zero on any discrepancy. Reads only: it never changes money."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=20_000, help="ids per SQL batch (default 20000)")
        parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")

    def handle(self, *args: object, **options: object) -> None:
        started = time.monotonic()
        result = run_audit(
            batch_size=int(str(options["batch_size"])),
            progress=self._progress_writer(enabled=not options["no_progress"]),
        )
        self._report(result, time.monotonic() - started)
        record_audit(result)
        if result.problem_count:
            raise CommandError(f"Ledger audit failed: {result.problem_count} discrepancies (see the report above).")

    def _progress_writer(self, *, enabled: bool) -> Callable[[str, float, int], None]:
        tty = self.stderr.isatty()
        last: dict[str, Any] = {"at": 0.0, "label": ""}

        def progress(label: str, fraction: float, rows: int) -> None:
            if not enabled:
                return
            now = time.monotonic()
            line = f"audit_ledger: {label}: {fraction:4.0%} of {rows:,} rows"
            if tty:
                self.stderr.write(f"\r{line}\x1b[K", ending="\n" if fraction >= 1 else "")
            elif fraction >= 1 or now - last["at"] >= 1 or label != last["label"]:
                self.stderr.write(line)
                last.update(at=now, label=label)

        return progress

    def _report(self, result: AuditResult, seconds: float) -> None:
        out = self.stdout
        ok, bad = self.style.SUCCESS("ok"), self.style.ERROR("FAIL")
        out.write(f"Ledger audit ({result.vendor}, one consistent snapshot, {seconds:.1f}s)")
        out.write("")
        for check in result.checks:
            status = ok if check.ok else bad
            detail = "" if check.ok else f"  {check.problem_count} discrepancies"
            out.write(f"  {check.name:<17} {check.checked:>12,} {check.unit:<10} {status}{detail}")
            for problem in check.problems:
                out.write(f"      - {problem}")
            if check.problem_count > len(check.problems):
                out.write(f"      … and {check.problem_count - SHOW} more")
        out.write("")
        out.write("Totals per currency (every entry sums to zero; users' balances mirror the system accounts):")
        for code, t in sorted(result.totals.items()):
            status = ok if totals_ok(t) else bad
            out.write(
                f"  {code:<8} entries sum {result.money(code, t.entries_sum)}; users hold "
                f"{result.money(code, t.user_balances)}, system accounts {result.money(code, t.system_balances)}"
                f"  {status}"
            )
        if result.system_balances:
            out.write("")
            out.write("System accounts (balance = sum of entries; issuance is negative by design):")
            for sb in result.system_balances:
                out.write(f"  {sb.name:<14} {result.money(sb.currency, sb.balance):>24}  ({sb.entries:,} entries)")
        out.write("")
        if result.problem_count:
            out.write(self.style.ERROR(f"Result: {result.problem_count} discrepancies. Nothing was changed."))
        else:
            out.write(self.style.SUCCESS("Result: the ledger is consistent."))
