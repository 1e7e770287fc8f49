"""Maker-checker (four eyes), one mechanism for every request a second staff member decides
(wallet adjustments, payment refunds).

A request model has `status` ("requested" until decided), `requested_by`, `decided_by`,
`decided_at`, `decision_note`, and a CheckConstraint that `decided_by` differs from
`requested_by`. Its services call `require_staff_perm` before creating or deciding (the rule
holds for every caller, not only the admin), `lock_undecided` inside their transaction, and
`record_decision`. Its admin mixes in `FourEyesAdmin`, which declares the permissions on the
add form and on the approve/reject actions.
"""

from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from django.contrib.auth import get_user_model
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import GoldbookError

REQUESTED = "requested"


class ApprovalRequest(Protocol):
    pk: Any
    status: Any
    requested_by_id: Any
    decided_by_id: Any
    decided_at: datetime | None
    decision_note: str

    def save(self, *, update_fields: list[str]) -> None: ...


R = TypeVar("R", bound=models.Model)


def require_staff_perm(*, user_id: int, perm: str, action: str, error: type[GoldbookError]) -> None:
    """Raise `error` (403) unless `user_id` is an active staff member holding `perm`."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True).first()
    if user is None or not user.has_perm(perm):
        raise error(
            _("Only staff with the “%(perm)s” permission may %(action)s.") % {"perm": perm, "action": action},
            status=403,
        )


def lock_undecided(model: type[R], *, request_id: int, decider_id: int, what: str, error: type[GoldbookError]) -> R:
    """Lock the request row and check it is still undecided and not the decider's own request.
    Call inside the deciding transaction."""
    req = model._default_manager.select_for_update(no_key=True).get(pk=request_id)
    row = cast(ApprovalRequest, req)
    if row.status != REQUESTED:
        raise error(
            _("%(what)s #%(id)s has already been decided (%(status)s).")
            % {"what": what, "id": row.pk, "status": row.status}
        )
    if row.requested_by_id == decider_id:
        raise error(
            _("A different staff member must approve or reject %(what)s #%(id)s.") % {"what": what, "id": row.pk}
        )
    return req


def record_decision(
    req: ApprovalRequest, status: str, *, decider_id: int, note: str, also: tuple[str, ...] = ()
) -> None:
    """Write the decision (and the model's own `also` fields, already set by the caller)."""
    req.status = status
    req.decided_by_id = decider_id
    req.decided_at = timezone.now()
    req.decision_note = note[:255]
    req.save(update_fields=["status", "decided_by", "decided_at", "decision_note", *also])


class FourEyesAdmin:
    """Admin mixin: `request_permission` adds, `approve_permission` decides (the actions declare
    `permissions=["approve"]`); rows are never edited or deleted, only decided by the services."""

    request_permission: str
    approve_permission: str

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.has_perm(self.request_permission)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and request.user.has_perm(self.approve_permission)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.approve_permission)
