"""AlterFieldLabel: the label-only AlterField that skips Django's re-render of related models."""

import pytest
from django.db import models
from django.db.migrations.state import ModelState, ProjectState

from core.migration_ops import AlterFieldLabel


def _state() -> ProjectState:
    state = ProjectState()
    fields = [("id", models.AutoField(primary_key=True)), ("name", models.CharField(max_length=20))]
    state.add_model(ModelState("shop", "Item", fields))
    return state


def test_a_label_change_reaches_the_migration_state():
    state = _state()
    AlterFieldLabel("item", "name", models.CharField(max_length=20, verbose_name="名称", help_text="h")).state_forwards(
        "shop", state
    )
    field = state.models["shop", "item"].fields["name"]
    assert (field.verbose_name, field.help_text, field.max_length) == ("名称", "h", 20)


@pytest.mark.parametrize(
    "field",
    [models.CharField(max_length=40, verbose_name="name"), models.TextField(verbose_name="name")],
    ids=["max_length", "type"],
)
def test_anything_but_a_label_is_refused(field):
    with pytest.raises(ValueError, match="changes more than labels"):
        AlterFieldLabel("item", "name", field).state_forwards("shop", _state())
