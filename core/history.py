"""django-simple-history records each change to a money setting (who, when, before/after) from
the moment a model is tracked. `record_existing` gives rows that existed before that moment their
first record, so the first change made afterwards still has a "before" to compare with. Called
from the migrations that start tracking a model (with the migration's historical `apps`)."""

from typing import Any

from django.utils import timezone


def record_existing(apps: Any, app_label: str, *model_names: str) -> None:
    now = timezone.now()
    for name in model_names:
        model = apps.get_model(app_label, name)
        historical = apps.get_model(app_label, f"Historical{name}")
        tracked = {f.attname for f in historical._meta.fields} & {f.attname for f in model._meta.concrete_fields}
        historical.objects.bulk_create(
            historical(
                **{attname: getattr(row, attname) for attname in tracked},
                history_date=now,
                history_type="+",
                history_change_reason="Recorded when history began",
            )
            for row in model.objects.all()
        )
