"""Settings that create money change only with a second staff member's approval (four eyes).

An earning rule, a booster, a credit package worth more than its price, a bonus tier: one staff
member editing them could mint coins for anyone. Their admins (`core.admin.FourEyesConfigAdmin`)
turn such an edit into a `ConfigChange` holding the proposed values; nothing changes until a
different staff member holding `core.approve_configchange` approves it, which applies the values
under a row lock, and only if the row still holds what the proposer saw (else: propose again).
Changes that cannot create money (a lower amount, a deactivation, a new name) apply at once.
Every change, held or direct, is recorded by django-simple-history on the models themselves.

The rules hold for every caller of these functions, not only the admin (core.approvals).
"""

import json
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from .approvals import lock_undecided, record_decision, require_staff_perm
from .errors import GoldbookError
from .models import ConfigChange, ConfigChangeStatus

APPROVE = "core.approve_configchange"

Snapshot = dict[str, Any]


class ConfigChangeNotAllowed(GoldbookError):
    status = 403
    code = "config_change_not_allowed"


class ConfigChangeConflict(GoldbookError):
    status = 409
    code = "config_change_conflict"


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if f.editable and not f.primary_key]


def snapshot(obj: models.Model, m2m: dict[str, list[int]] | None = None) -> Snapshot:
    """The editable fields of `obj` as Python values (foreign keys by id), plus many-to-many ids:
    from `m2m` when given (a form's unsaved choice), else from the saved row."""
    values: Snapshot = {f.attname: f.value_from_object(obj) for f in _fields(type(obj))}
    for f in obj._meta.many_to_many:
        if m2m is not None and f.name in m2m:
            values[f.name] = sorted(m2m[f.name])
        elif obj.pk is not None:
            values[f.name] = sorted(getattr(obj, f.name).values_list("pk", flat=True))
        else:
            values[f.name] = []
    return values


def _jsonable(values: Snapshot) -> Snapshot:
    loaded: Snapshot = json.loads(json.dumps(values, cls=DjangoJSONEncoder))
    return loaded


def propose(*, obj: models.Model, m2m: dict[str, list[int]] | None, requested_by_id: int, summary: str) -> ConfigChange:
    """Hold the unsaved edit of `obj` (a new row when `obj.pk` is None) for approval.

    Raises ConfigChangeNotAllowed unless the requester may add/change that model."""
    meta = obj._meta
    action = "change" if obj.pk is not None else "add"
    require_staff_perm(
        user_id=requested_by_id,
        perm=f"{meta.app_label}.{action}_{meta.model_name}",
        action=f"{action} {meta.verbose_name_plural}",
        error=ConfigChangeNotAllowed,
    )
    before: Snapshot = {}
    if obj.pk is not None:
        before = _jsonable(snapshot(type(obj)._default_manager.get(pk=obj.pk)))
    return ConfigChange.objects.create(
        model=meta.label,
        object_id=obj.pk,
        summary=summary[:255],
        values=_jsonable(snapshot(obj, m2m)),
        before=before,
        requested_by_id=requested_by_id,
    )


def approve(*, change_id: int, approver_id: int, note: str = "") -> ConfigChange:
    """Apply a held change. Raises ConfigChangeNotAllowed (decided already, the approver proposed
    it or lacks the permission), ConfigChangeConflict (the row was changed or deleted since it
    was proposed, or the values no longer pass the model's validation: the change stays pending
    so it can be rejected and proposed again)."""
    require_staff_perm(user_id=approver_id, perm=APPROVE, action="approve a change", error=ConfigChangeNotAllowed)
    with transaction.atomic(durable=True):
        change = lock_undecided(
            ConfigChange, request_id=change_id, decider_id=approver_id, what="Change", error=ConfigChangeNotAllowed
        )
        model = apps.get_model(change.model)
        target = _locked_target(model, change)
        for f in _fields(model):
            if f.attname in change.values:
                setattr(target, f.attname, f.to_python(change.values[f.attname]))
        try:
            target.full_clean(validate_unique=True)
        except ValidationError as exc:
            raise ConfigChangeConflict(f"Change #{change.pk} no longer passes validation: {exc.messages}") from None
        # The history names the approver as the one who made it take effect, whoever calls this.
        target._history_user = get_user_model().objects.get(pk=approver_id)  # type: ignore[attr-defined]
        target._change_reason = f"Change #{change.pk}, approved by a second staff member"  # type: ignore[attr-defined]
        target.save()
        for f in model._meta.many_to_many:
            if f.name in change.values:
                getattr(target, f.name).set(change.values[f.name])
        change.applied_object_id = target.pk
        record_decision(
            change, ConfigChangeStatus.APPROVED, decider_id=approver_id, note=note, also=("applied_object_id",)
        )
    return change


def _locked_target(model: type[models.Model], change: ConfigChange) -> models.Model:
    if change.object_id is None:
        return model()
    try:
        target = model._default_manager.select_for_update().get(pk=change.object_id)
    except ObjectDoesNotExist:
        raise ConfigChangeConflict(f"Change #{change.pk}: the row was deleted since it was proposed.") from None
    if _jsonable(snapshot(target)) != change.before:
        raise ConfigChangeConflict(
            f"Change #{change.pk}: the row was changed since it was proposed; reject it and propose again."
        )
    return target


def reject(*, change_id: int, approver_id: int, note: str = "") -> ConfigChange:
    """Discard a held change. Raises ConfigChangeNotAllowed as `approve` does."""
    require_staff_perm(user_id=approver_id, perm=APPROVE, action="reject a change", error=ConfigChangeNotAllowed)
    with transaction.atomic(durable=True):
        change = lock_undecided(
            ConfigChange, request_id=change_id, decider_id=approver_id, what="Change", error=ConfigChangeNotAllowed
        )
        record_decision(change, ConfigChangeStatus.REJECTED, decider_id=approver_id, note=note)
    return change


# What `FourEyesConfigAdmin.creates_money` is written with. Each is true for a new row (before is
# None), so creating any such setting is held; None in a bound means "no bound".


def _moved(before: Snapshot | None, after: Snapshot, names: tuple[str, ...], *, up: bool) -> bool:
    """One of `names` moved the given way (None: unbounded, beyond any number in that direction)."""
    if before is None:
        return True
    for n in names:
        old, new = before[n], after[n]
        if old == new:
            continue
        if new is None or (old is not None and (new > old if up else new < old)):
            return True
    return False


def raised(before: Snapshot | None, after: Snapshot, *names: str) -> bool:
    """One of `names` went up (None: unbounded, above any number)."""
    return _moved(before, after, names, up=True)


def lowered(before: Snapshot | None, after: Snapshot, *names: str) -> bool:
    """One of `names` went down (None: unbounded, below any number)."""
    return _moved(before, after, names, up=False)


def switched_on(before: Snapshot | None, after: Snapshot, *names: str) -> bool:
    return before is None or any(after[n] and not before[n] for n in names)


def changed(before: Snapshot | None, after: Snapshot, *names: str) -> bool:
    return before is None or any(before[n] != after[n] for n in names)
