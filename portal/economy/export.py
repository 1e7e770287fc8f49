"""The economy report as CSV: every table of the page, one after another (a title line, its
header, its rows, a blank line), or one table alone. Values are written plain (2026-11-30,
1234.50), the way a spreadsheet reads them."""

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from .report import Report, Table


def _write_table(writer: Any, table: Table) -> None:
    writer.writerow([str(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([str(v) for v in row])


def report_csv(report: Report, tables: Iterable[Table] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    chosen = list(tables) if tables is not None else None
    if chosen is None:
        writer.writerow(
            [_("Goldbook economy report"), report.period.first, report.period.last, str(report.period.zone)]
        )
        writer.writerow([])
        writer.writerow([_("Figure"), _("Value")])
        for label, value in report.figures:
            writer.writerow([str(label), str(value)])
        writer.writerow([_("Ledger audit"), audit_line(report)])
        state = report.rollups
        if state is not None and state.reconciled_at is not None:
            rolled = _("%(n)d differences") % {"n": len(state.differences)}
            writer.writerow([_("Rollups against the ledger"), f"{rolled} ({state.reconciled_at.isoformat()})"])
        writer.writerow([])
        chosen = report.tables
    for i, table in enumerate(chosen):
        if len(chosen) > 1 or tables is None:
            writer.writerow([str(table.title)])
        _write_table(writer, table)
        if i < len(chosen) - 1:
            writer.writerow([])
    return out.getvalue()


def audit_line(report: Report) -> str:
    audit = report.audit
    if audit is None:
        return _("never run")
    result = _("consistent") if audit.ok else _("%(n)d discrepancies") % {"n": audit.problem_count}
    return f"{result} ({audit.finished_at.isoformat()})"


def filename(report: Report, table: str = "") -> str:
    return f"goldbook-economy_{report.period.slug}{'_' + table if table else ''}.csv"
