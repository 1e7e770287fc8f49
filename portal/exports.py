"""The member's history as CSV: one header row, amounts as plain decimals, ISO 8601 times in the
active (the member's) time zone, and text cells that a spreadsheet cannot run as a formula."""

import csv
from collections.abc import Iterable, Iterator
from datetime import tzinfo

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .selectors import HistoryRow

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP
# "CSV injection"); a leading apostrophe makes it text. Only our own numbers are left unescaped.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
# Excel opens a CSV without a byte order mark in the system's code page, which garbles Chinese.
BOM = "\ufeff"


class _Line:
    """A file-like object for csv.writer that hands back the line it was given."""

    def write(self, value: str) -> str:
        return value


def safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def header() -> list[str]:
    return [_("Date"), _("Type"), _("Details"), _("Amount"), _("Balance after"), _("Transaction")]


def cells(row: HistoryRow, tz: tzinfo) -> list[str]:
    return [
        timezone.localtime(row.created_at, tz).isoformat(timespec="seconds"),
        safe_text(str(row.label)),
        safe_text(row.subject),
        f"{row.amount:f}",
        f"{row.balance_after:f}",
        str(row.id),
    ]


def history_csv(rows: Iterable[HistoryRow], *, tz: tzinfo, language: str) -> Iterator[str]:
    """The CSV, one line at a time (for a StreamingHttpResponse). The response streams after the
    view returned, when the request's language and time zone may no longer be active: the view
    passes them in."""
    writer = csv.writer(_Line())
    with translation.override(language):
        yield BOM + writer.writerow(header())
        for row in rows:
            yield writer.writerow(cells(row, tz))
