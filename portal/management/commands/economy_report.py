from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.economy.mail import month_csv, previous_month, send_month_report, site_zone


def _month(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007 (a calendar month, no time)
    except ValueError:
        raise CommandError(f"--month must look like 2026-11, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Write the economy report (the staff economy page's tables, as CSV) for one calendar month, "
        "days in the site's time zone: to stdout, a file, or by email to GOLDBOOK_ECONOMY_REPORT_EMAILS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", help="YYYY-MM (default: last month)")
        parser.add_argument("--output", help="write the CSV to this file instead of stdout")
        parser.add_argument("--time-zone", help="days in this zone (default GOLDBOOK_DEFAULT_TIME_ZONE)")
        parser.add_argument("--email", action="store_true", help="email it as the monthly task does")

    def handle(self, *args: object, **options: str | None) -> None:
        month = _month(options["month"]) if options["month"] else previous_month()
        if options["email"]:
            sent = send_month_report(month=month)
            self.stdout.write(f"Sent to {sent} recipient(s)." if sent else "GOLDBOOK_ECONOMY_REPORT_EMAILS is empty.")
            return
        try:
            zone = ZoneInfo(options["time_zone"]) if options["time_zone"] else site_zone()
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"Unknown time zone {options['time_zone']!r}.") from None
        name, body = month_csv(month=month, zone=zone)
        if options["output"]:
            Path(options["output"]).write_text(body, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']} ({name}).")
        else:
            self.stdout.write(body, ending="")
