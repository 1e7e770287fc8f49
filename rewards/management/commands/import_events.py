import time
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from core.jsonbody import parse_json_body
from rewards import services
from rewards.models import Integration


class Command(BaseCommand):
    help = (
        "Import activity events from a JSONL file (one event per line, the shape POST /api/rewards/events "
        "takes), recorded in batches as POST /api/rewards/events/batch records them. Replays are skipped, so "
        "an interrupted import can simply be run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--integration", required=True, help="The integration the events come from.")
        parser.add_argument("--progress-every", type=int, default=1000)
        parser.add_argument(
            "--batch-size", type=int, default=services.BATCH_MAX, help="Events per transaction (at most 500)."
        )

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["integration"])
        if not Integration.objects.filter(name=name).exists():
            raise CommandError(f"No integration named {name!r} (create it with create_integration).")
        path = Path(str(options["path"]))
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        every = max(1, int(str(options["progress_every"])))
        size = min(max(1, int(str(options["batch_size"]))), services.BATCH_MAX)
        self.counts = {"accepted": 0, "replayed": 0, "invalid": 0}
        started = time.monotonic()
        chunk: list[tuple[int, services.EventSpec]] = []
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        # The site's one JSON parser: a line nested 5,000 deep is an invalid line, not a crash.
                        chunk.append((lineno, services.EventSpec(**_fields(parse_json_body(line.encode())))))
                    except (ValueError, TypeError) as exc:
                        self.counts["invalid"] += 1
                        self.stderr.write(f"line {lineno}: {exc}")
                if len(chunk) >= size or lineno % every == 0:
                    self._record(name, chunk)
                    chunk = []
                if lineno % every == 0:
                    self._progress(lineno, started)
        self._record(name, chunk)
        self._progress(sum(self.counts.values()), started, final=True)

    def _record(self, name: str, chunk: list[tuple[int, services.EventSpec]]) -> None:
        """One batch, one transaction: each line accepted, replayed or invalid on its own."""
        if not chunk:
            return
        items = services.events_record(source=name, events=[spec for _, spec in chunk])
        for (lineno, _), item in zip(chunk, items, strict=True):
            if item.error is not None:
                self.counts["invalid"] += 1
                self.stderr.write(f"line {lineno}: {item.error}")
            else:
                self.counts["accepted" if item.outcome == services.Outcome.ACCEPTED else "replayed"] += 1

    def _progress(self, n: int, started: float, final: bool = False) -> None:
        counts = self.counts
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
