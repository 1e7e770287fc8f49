"""Migration operations of our own.

`AlterFieldLabel` is Django's `AlterField` for a change that only relabels a field (verbose name,
help text, choice labels): attributes the database never sees. Django's AlterField re-renders the
model and, for a relation or a referenced field, every model related to it, after each operation;
the label migrations of issue 12 hold about 450 of them, which made them most of `migrate`'s time
(about 25 s of 35 s on SQLite, paid by `make run`, every test database and every test that starts
a site). This operation updates the migration state the same way, without the re-render: models
rendered earlier keep their old labels, which no schema change reads, and the next operation that
re-renders a model picks the new ones up. It refuses a change to anything but labels, so it can
never hide a schema change.

`makemigrations` still writes plain `AlterField` for a label change; a label-only migration with
many fields may switch to `AlterFieldLabel` by hand (the state, and so `makemigrations --check`,
is the same).
"""

from typing import Any

from django.db import migrations
from django.db.migrations.state import ProjectState
from django.db.models import Field

LABELS = frozenset({"verbose_name", "help_text", "choices"})


def _label_free(field: Field[Any, Any]) -> tuple[str, str, dict[str, Any]]:
    _name, path, args, kwargs = field.deconstruct()
    return path, repr(args), {k: v for k, v in kwargs.items() if k not in LABELS}


class AlterFieldLabel(migrations.AlterField):
    """AlterField for labels only: same state, no re-render of related models, no SQL."""

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        model_key = app_label, self.model_name_lower
        fields = state.models[model_key].fields
        old = fields[self.name]
        if _label_free(old) != _label_free(self.field):
            raise ValueError(
                f"AlterFieldLabel on {app_label}.{self.model_name}.{self.name} changes more than labels: "
                "use migrations.AlterField."
            )
        if getattr(state, "_relations", None) is not None and self.field.is_relation:
            # The relation registry keys the field object: swap it as ProjectState.alter_field does.
            fields.pop(self.name)
            state.resolve_model_field_relations(model_key, self.name, old)
            fields[self.name] = self.field
            state.resolve_model_field_relations(model_key, self.name, self.field)
        else:
            fields[self.name] = self.field

    def database_forwards(self, *args: Any, **kwargs: Any) -> None:
        """Labels live in Python only."""

    def database_backwards(self, *args: Any, **kwargs: Any) -> None:
        """Labels live in Python only."""

    def describe(self) -> str:
        return f"Relabel {self.model_name}.{self.name}"
