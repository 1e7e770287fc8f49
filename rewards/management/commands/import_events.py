import time
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from core.jsonbody import parse_json_body
from rewards import services
from rewards.errors import InvalidEvent
from rewards.models import Integration


class Command(BaseCommand):
    help = (
        "Import activity events from a JSONL file (one event per line, the shape POST /api/rewards/events "
        "takes). Replays are skipped, so an interrupted import can simply be run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--integration", required=True, help="The integration the events come from.")
        parser.add_argument("--progress-every", type=int, default=1000)

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["integration"])
        if not Integration.objects.filter(name=name).exists():
            raise CommandError(f"No integration named {name!r} (create it with create_integration).")
        path = Path(str(options["path"]))
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        every = max(1, int(str(options["progress_every"])))
        counts = {"accepted": 0, "replayed": 0, "invalid": 0}
        started = time.monotonic()
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    # The site's one JSON parser: a line nested 5,000 deep is an invalid line, not a crash.
                    result = services.activity_record(source=name, **_fields(parse_json_body(line.encode())))
                except (ValueError, TypeError, InvalidEvent) as exc:
                    counts["invalid"] += 1
                    self.stderr.write(f"line {lineno}: {exc}")
                else:
                    counts["accepted" if result.created else "replayed"] += 1
                if lineno % every == 0:
                    self._progress(lineno, counts, started)
        self._progress(sum(counts.values()), counts, started, final=True)

    def _progress(self, n: int, counts: dict[str, int], started: float, final: bool = False) -> None:
        rate = n / max(time.monotonic() - started, 1e-6)
        line = (
            f"{n} lines: {counts['accepted']} accepted, {counts['replayed']} replayed, "
            f"{counts['invalid']} invalid ({rate:.0f}/s)"
        )
        self.stdout.write(self.style.SUCCESS(f"Done. {line}") if final else line)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _fields(payload: Any) -> dict[str, Any]:
    """One JSONL line as `activity_record` arguments. Raises ValueError for a malformed line."""
    if not isinstance(payload, dict):
        raise ValueError("each line must be a JSON object")
    user, obj = _dict(payload.get("user")), _dict(payload.get("object"))
    occurred: datetime | None = None
    if payload.get("occurred_at"):
        occurred = parse_datetime(str(payload["occurred_at"]))
        if occurred is None:
            raise ValueError("occurred_at is not an ISO 8601 datetime")
    data = payload.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError("data must be an object")
    return {
        "event_id": str(payload.get("event_id") or ""),
        "type": str(payload.get("type") or ""),
        "occurred_at": occurred,
        "user_email": str(user.get("email") or ""),
        "user_external_id": "" if user.get("external_id") is None else str(user.get("external_id")),
        "object_type": str(obj.get("type") or ""),
        "object_id": "" if obj.get("id") is None else str(obj.get("id")),
        "data": data,
    }
