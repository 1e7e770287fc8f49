"""Pages of rewards: store (with the redeem modal), leaderboard, bounties, referral landing."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import GoldbookError, page_error
from core.requests import signed_in_id
from wallet.errors import InsufficientFunds
from wallet.selectors import balance_for_user, default_currency

from . import selectors, services
from .errors import RewardsError
from .forms import AwardForm, BountyForm, RedeemForm
from .models import Bounty, EarningRule, Period, RedemptionStatus, Reward, RewardProfile
from .quotes import spend_quote
from .throttle import bounty_award_throttle

PERIODS = [(Period.ALL, Period.ALL.label), (Period.MONTH, Period.MONTH.label), (Period.WEEK, Period.WEEK.label)]


def _widget(request: HttpRequest) -> selectors.ProfileWidget | None:
    if not request.user.is_authenticated:
        return None
    services.profile_ensure(user_id=request.user.pk)
    return selectors.profile_widget(user_id=request.user.pk)


def store(request: HttpRequest) -> HttpResponse:
    user_id = request.user.pk if request.user.is_authenticated else None
    items = selectors.store_items(user_id=user_id)
    currency = default_currency()
    balance = balance_for_user(user_id=user_id).available_decimal if user_id else None
    rules = EarningRule.objects.filter(is_active=True).order_by("-amount")
    return render(
        request,
        "rewards/store.html",
        {
            "items": items,
            "balance": balance,
            "widget": _widget(request),
            "rules": [(r, currency.to_decimal(r.amount)) for r in rules],
            "idempotency_key": uuid.uuid4().hex,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def redeem(request: HttpRequest, reward_id: int) -> HttpResponse:
    """GET, or a POST without `confirm`: the page that asks first (the modal's no-JS twin).
    A confirmed POST redeems (once per confirmation key), then back to the store."""
    user_id = signed_in_id(request)
    item = next((i for i in selectors.store_items(user_id=user_id) if i.reward.pk == reward_id), None)
    if item is None:
        if not Reward.objects.filter(pk=reward_id).exists():
            raise Http404("No such reward.")
        messages.error(request, _("This reward is not available any more."))
        return redirect("rewards:store")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        _redeem(request, item=item, user_id=user_id)
        return redirect("rewards:store")
    return render(
        request,
        "rewards/redeem_confirm.html",
        {
            "item": item,
            "quote": spend_quote(user_id=user_id, cost=item.price_decimal),
            "idempotency_key": uuid.uuid4().hex,
        },
    )


def _redeem(request: HttpRequest, *, item: selectors.StoreItem, user_id: int) -> None:
    """Redeem from the confirmation form and say how it went on the next page."""
    form = RedeemForm(request.POST)
    key = form.cleaned_data["idempotency_key"] if form.is_valid() else ""
    name = item.reward.name
    try:
        result = services.reward_redeem(user_id=user_id, reward_id=item.reward.pk, idempotency_key=key or None)
    except InsufficientFunds as exc:
        needed = default_currency().to_decimal(exc.needed)
        messages.error(
            request,
            _("You need %(needed)s more %(money)s to redeem %(name)s.")
            % {"needed": needed, "money": _(settings.GOLDBOOK_CURRENCY_NAME), "name": name},
        )
    except GoldbookError as exc:  # RewardsError, or the wallet's IdempotencyConflict
        page_error(request, exc)
    else:
        if not result.created:
            messages.info(request, _("You already redeemed %(name)s with this confirmation.") % {"name": name})
        elif result.redemption.status == RedemptionStatus.PENDING:
            messages.success(request, _("You redeemed %(name)s. Staff will fulfil it shortly.") % {"name": name})
        else:
            messages.success(request, _("You redeemed %(name)s. Enjoy!") % {"name": name})


def leaderboard(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period", Period.ALL)
    if period not in Period.values:
        period = Period.ALL
    user_id = request.user.pk if request.user.is_authenticated else None
    board = selectors.leaderboard(period=period, limit=10, user_id=user_id)
    in_top = any(e.user_id == user_id for e in board.entries)
    return render(
        request,
        "rewards/leaderboard.html",
        {"board": board, "periods": PERIODS, "period": period, "in_top": in_top, "widget": _widget(request)},
    )


def bounties(request: HttpRequest) -> HttpResponse:
    """The open bounties and the form to offer one. A valid offer is asked first ("spend X,
    balance after Y"); only the confirmed POST moves the coins into escrow."""
    form = BountyForm(initial={"idempotency_key": uuid.uuid4().hex})
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        form = BountyForm(request.POST)
        if form.is_valid() and request.POST.get("confirm") != "1":
            return _bounty_confirm(request, form)
        bounty = _bounty_create(form, offerer_id=signed_in_id(request)) if form.is_valid() else None
        if bounty is not None:
            messages.success(request, _("Your bounty is open: %(title)s.") % {"title": bounty.title})
            return redirect("rewards:bounty", bounty_id=bounty.pk)
    currency = default_currency()
    rows = [(b, currency.to_decimal(b.amount)) for b in selectors.bounties_open()[:100]]
    return render(request, "rewards/bounties.html", {"rows": rows, "form": form})


def _bounty_confirm(request: HttpRequest, form: BountyForm) -> HttpResponse:
    data = form.cleaned_data
    if not data["idempotency_key"]:
        data["idempotency_key"] = uuid.uuid4().hex
    names = ("thread_ref", "title", "coins", "expires_in_days", "idempotency_key")
    hidden = [(name, str(data[name])) for name in names]
    quote = spend_quote(user_id=signed_in_id(request), cost=data["coins"])
    return render(request, "rewards/bounty_confirm.html", {"data": data, "hidden": hidden, "quote": quote})


def _bounty_create(form: BountyForm, *, offerer_id: int) -> Bounty | None:
    """Offer the bounty the (valid) form describes; on a refusal, put the reason on the form."""
    data = form.cleaned_data
    try:
        return services.bounty_create(
            offerer_id=offerer_id,
            thread_ref=data["thread_ref"],
            title=data["title"],
            amount=default_currency().to_minor(data["coins"]),
            expires_in_days=data["expires_in_days"],
            idempotency_key=data["idempotency_key"] or None,
        )
    except InsufficientFunds as exc:
        form.add_error("coins", _("You have %(n)s available.") % {"n": default_currency().to_decimal(exc.available)})
    except RewardsError as exc:
        form.add_error(None, exc.message)
    return None


def bounty_detail(request: HttpRequest, bounty_id: int) -> HttpResponse:
    bounty = selectors.bounty_get(bounty_id=bounty_id)
    if bounty is None:
        raise Http404("No such bounty.")
    is_offerer = request.user.is_authenticated and request.user.pk == bounty.offerer_id
    return render(
        request,
        "rewards/bounty_detail.html",
        {
            "bounty": bounty,
            "coins": default_currency().to_decimal(bounty.amount),
            "is_offerer": is_offerer,
            "award_form": AwardForm(),
            "answers": selectors.thread_answers(thread_ref=bounty.thread_ref)[:100] if is_offerer else [],
        },
    )


@login_required
@require_POST
def bounty_award(request: HttpRequest, bounty_id: int) -> HttpResponse:
    form = AwardForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the answer to award."))
        return redirect("rewards:bounty", bounty_id=bounty_id)
    try:
        bounty_award_throttle(request, actor_id=signed_in_id(request))
        bounty = services.bounty_award(
            bounty_id=bounty_id, actor_id=signed_in_id(request), answer_id=form.cleaned_data["answer_id"]
        )
    except RewardsError as exc:
        page_error(request, exc)
    else:
        winner = bounty.winner
        name = selectors.member_name(winner) if winner else _("the winner")
        messages.success(request, _("Bounty awarded to %(name)s.") % {"name": name})
    return redirect("rewards:bounty", bounty_id=bounty_id)


@login_required
@require_POST
def bounty_cancel(request: HttpRequest, bounty_id: int) -> HttpResponse:
    try:
        services.bounty_cancel(bounty_id=bounty_id, actor_id=signed_in_id(request))
    except RewardsError as exc:
        page_error(request, exc)
    else:
        messages.success(
            request,
            _("Bounty cancelled; the %(money)s are back in your balance.")
            % {"money": _(settings.GOLDBOOK_CURRENCY_NAME)},
        )
    return redirect("rewards:bounty", bounty_id=bounty_id)


def referral_landing(request: HttpRequest, code: str) -> HttpResponse:
    """Remember the referral code for sign-up (session key "referral_code"), then go home."""
    code = code.strip()[:16]
    profile = RewardProfile.objects.select_related("user").filter(referral_code=code).first()
    if profile is None:
        messages.warning(request, _("This invitation link is not valid, but you are welcome anyway."))
        return redirect("home")
    if request.user.is_authenticated:
        messages.info(request, _("You already have an account: invitations are for new members."))
        return redirect("home")
    request.session["referral_code"] = code
    messages.info(
        request, _("%(name)s invited you. Sign up to join them.") % {"name": selectors.member_name(profile.user)}
    )
    return redirect("home")
