"""The fraud review queue in the admin (issue 13): signals with their evidence, and the staff
decisions on them (hold a member, clear a signal, lift a hold), each a POST form with CSRF and a
required reason. Only staff with `wallet.review_fraud` see it; the admin's own login refuses
everyone else."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core.errors import GoldbookError
from core.requests import signed_in_id
from wallet import services as wallet
from wallet.selectors import members_on_hold
from wallet.services.member_holds import REVIEW_PERM

from . import fraud

DECISIONS = (
    ("hold", gettext_lazy("Hold member")),
    ("clear", gettext_lazy("Clear signal")),
    ("lift", gettext_lazy("Lift hold")),
)


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=DECISIONS)
    key = forms.CharField(max_length=200, required=False)
    fingerprint = forms.CharField(max_length=64, required=False)
    user_id = forms.IntegerField(min_value=1, required=False, label=gettext_lazy("Member"))
    reason = forms.CharField(max_length=2000, label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("action") in ("hold", "lift") and not data.get("user_id"):
            raise forms.ValidationError(_("Choose the member."))
        return data


def _decide(data: dict[str, object], staff_id: int) -> str:
    """Run one decision through its service; the sentence to show when it is done."""
    action, reason, user_id = data["action"], str(data["reason"]), data.get("user_id")
    key, fingerprint = str(data.get("key") or ""), str(data.get("fingerprint") or "")
    if action == "hold":
        fraud.signal_hold(key=key, fingerprint=fingerprint, user_id=int(user_id), reason=reason, staff_id=staff_id)  # type: ignore[call-overload]
        return _("Member #%(id)s is on hold.") % {"id": user_id}
    if action == "lift":
        wallet.member_clear(user_id=int(user_id), reason=reason, staff_id=staff_id)  # type: ignore[call-overload]
        return _("Member #%(id)s is no longer on hold.") % {"id": user_id}
    fraud.signal_clear(key=key, fingerprint=fingerprint, reason=reason, staff_id=staff_id)
    return _("Signal cleared; it comes back if its evidence changes.")


@require_http_methods(["GET", "POST"])
def review_queue(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(REVIEW_PERM):
        raise PermissionDenied(_("Reviewing fraud signals needs the “%(perm)s” permission.") % {"perm": REVIEW_PERM})
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return redirect("fraud_review_queue")
        try:
            messages.success(request, _decide(form.cleaned_data, signed_in_id(request)))
        except GoldbookError as exc:
            messages.error(request, exc.message)
        return redirect("fraud_review_queue")
    context = {
        **admin.site.each_context(request),
        "title": _("Fraud review queue"),
        "signals": fraud.open_signals(),
        "held": members_on_hold(),
    }
    return TemplateResponse(request, "admin/portal/fraud_queue.html", context)


review_queue_view = admin.site.admin_view(review_queue)
