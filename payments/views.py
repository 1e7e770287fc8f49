"""Pages of payments (recharge, checkout, E9th deposit, wallet connection) and the IPN endpoint."""

import io
import logging
from dataclasses import dataclass
from decimal import Decimal

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.requests import signed_in_member
from core.errors import error_body, page_error
from wallet.selectors import balance_for_user, default_currency

from . import selectors, services
from .display import rate_for
from .errors import MessageTooLarge, PaymentError, TransientFailure
from .forms import ChainClaimForm, CheckoutForm, PayMethod, WalletLinkForm
from .models import BonusTier, CreditPackage, LinkedWallet, Payment, PaymentStatus, Provider
from .networks import network_of, payment_uri

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MethodOption:
    """One way to pay on the recharge page, and whether this site can take it."""

    value: PayMethod
    label: str
    available: bool

    @property
    def is_demo(self) -> bool:
        return self.value == PayMethod.DEMO


def _methods() -> list[MethodOption]:
    cp_ready = services.coinpayments_configured()
    e9th_ready = bool(settings.E9TH_RPC_URL and settings.E9TH_TOKEN_ADDRESS and settings.E9TH_DEPOSIT_ADDRESS)
    methods = [
        MethodOption(PayMethod.COINPAYMENTS, _("USDT or other crypto (CoinPayments)"), cp_ready),
        MethodOption(PayMethod.E9TH, _("E9th stablecoin from your linked wallet"), e9th_ready),
    ]
    if services.demo_enabled():
        methods.append(MethodOption(PayMethod.DEMO, _("Demo payment — no real money (development site only)"), True))
    return methods


def recharge(request: HttpRequest) -> HttpResponse:
    methods = _methods()
    default_method = next((m.value for m in methods if m.available), "")
    return render(
        request,
        "payments/recharge.html",
        {
            "cards": selectors.package_rows(style=CreditPackage.Style.CARD),
            "coin_packs": selectors.package_rows(style=CreditPackage.Style.COIN_PACK),
            "methods": methods,
            "default_method": request.GET.get("method") or default_method,
            "coins": [network_of(coin) for coin in selectors.accepted_coins()],
            "rate": rate_for(request),
            "credits_per_usd": settings.PAYMENTS_CREDITS_PER_USD,
            "free_downloads": settings.DOWNLOADS_FREE_PER_ACCOUNT,
            "custom_min": Decimal(settings.PAYMENTS_CUSTOM_MIN_USD),
            "custom_max": Decimal(settings.PAYMENTS_CUSTOM_MAX_USD),
            "tiers": [(t.percent, selectors.cents_to_usd(t.min_usd_cents)) for t in BonusTier.objects.all()],
        },
    )


@login_required
@require_POST
def start_checkout(request: HttpRequest) -> HttpResponse:
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("payments:recharge")
    try:
        return _start(request, form.cleaned_data)
    except PaymentError as exc:
        page_error(request, exc)
        return redirect("payments:recharge")


def _start(request: HttpRequest, data: dict[str, object]) -> HttpResponse:
    """Price the choice, then send the buyer to the E9th deposit page or a new payment's page."""
    package_id = data["package_id"]
    custom_amount = data["custom_amount"]
    quote = services.quote(
        package_id=package_id if isinstance(package_id, int) else None,
        custom_amount_usd=None if package_id or not isinstance(custom_amount, Decimal) else custom_amount,
    )
    method = data["method"]
    if method == PayMethod.E9TH:
        if quote.package is None:
            messages.error(request, _("E9th deposits buy a package: choose one of the packages."))
            return redirect("payments:recharge")
        return redirect(f"{reverse('payments:e9th_deposit')}?package={quote.package.pk}")
    if method == PayMethod.DEMO:
        payment = services.demo_checkout(user=signed_in_member(request), quote=quote)
    else:
        payment = services.coinpayments_checkout(user=signed_in_member(request), quote=quote, coin=str(data["coin"]))
    return redirect("payments:checkout", pk=payment.pk)


def _owned(request: HttpRequest, pk: int) -> Payment:
    payment = selectors.payment_for_owner(payment_id=pk, user_id=signed_in_member(request).pk)
    if payment is None:
        raise Http404("No such payment.")
    return payment


def _member_tz(request: HttpRequest) -> str:
    """Times on payment pages in the member's zone (the site's default when they chose none)."""
    return signed_in_member(request).time_zone or settings.GOLDBOOK_DEFAULT_TIME_ZONE


@login_required
def checkout(request: HttpRequest, pk: int) -> HttpResponse:
    """The payment's page: what to send where (network, amount, QR and wallet link), the time
    left and the steps; or the outcome. Polls status.json with JS, refreshes itself without."""
    payment = _owned(request, pk)
    currency = default_currency()
    is_open = payment.status in (PaymentStatus.PENDING, PaymentStatus.CONFIRMING)
    return render(
        request,
        "payments/checkout.html",
        {
            "payment": payment,
            "base": currency.to_decimal(payment.base_credits),
            "bonus": currency.to_decimal(payment.bonus_credits),
            "total": currency.to_decimal(payment.total_credits),
            "balance": balance_for_user(user_id=payment.user_id),
            "is_demo": payment.provider == Provider.DEMO,
            "is_open": is_open,
            "statuses": PaymentStatus,
            "network": network_of(payment.coin) if payment.coin and payment.provider != Provider.DEMO else None,
            "wallet_uri": payment_uri(coin=payment.coin, address=payment.address, amount=payment.coin_amount),
            "window": selectors.payment_window(payment, now=timezone.now()) if is_open else None,
            "member_tz": _member_tz(request),
        },
    )


@login_required
@require_GET
def receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """A printable receipt, for the payment's owner only (anyone else: 404)."""
    payment = _owned(request, pk)
    currency = default_currency()
    return render(
        request,
        "payments/receipt.html",
        {
            "payment": payment,
            "base": currency.to_decimal(payment.base_credits),
            "bonus": currency.to_decimal(payment.bonus_credits),
            "total": currency.to_decimal(payment.total_credits),
            "network": network_of(payment.coin) if payment.coin else None,
            "member_tz": _member_tz(request),
        },
    )


@login_required
@require_GET
def status_json(request: HttpRequest, pk: int) -> JsonResponse:
    payment = _owned(request, pk)
    balance = balance_for_user(user_id=payment.user_id)
    return JsonResponse(
        {
            "payment_id": payment.pk,
            "status": payment.status,
            "status_label": payment.get_status_display(),
            "status_detail": payment.status_detail,
            "confirmations": payment.confirmations,
            "confirms_needed": payment.confirms_needed,
            "received_amount": payment.received_amount,
            "balance": str(balance.available_decimal),
        }
    )


@login_required
@require_GET
def qr_code(request: HttpRequest, pk: int) -> HttpResponse:
    payment = _owned(request, pk)
    if not payment.address:
        raise Http404("No address yet.")
    buffer = io.BytesIO()
    # A standalone SVG document (with its namespace), so browsers render it as an <img>.
    uri = payment_uri(coin=payment.coin, address=payment.address, amount=payment.coin_amount)
    segno.make(uri or payment.address, error="m").save(buffer, kind="svg", scale=5, border=2, dark="#1c1917")
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def demo_pay(request: HttpRequest, pk: int) -> HttpResponse:
    _owned(request, pk)
    try:
        services.demo_pay(payment_id=pk, user=signed_in_member(request))
    except PaymentError as exc:
        page_error(request, exc)
    return redirect("payments:checkout", pk=pk)


def _ipn_error(exc: PaymentError) -> JsonResponse:
    return JsonResponse(error_body(exc), status=exc.status)


@csrf_exempt
@require_POST
def coinpayments_ipn(request: HttpRequest) -> HttpResponse:
    """200 for a genuine IPN (also a duplicate); 400 for a forged, mismatched or malformed one
    and 413 for one over DATA_UPLOAD_MAX_MEMORY_SIZE (nothing credited; CoinPayments stops
    retrying); 503 only when our side fails transiently, so CoinPayments retries. Errors are
    the JSON error shape."""
    try:
        body = request.body
    except RequestDataTooBig:
        return _ipn_error(MessageTooLarge("The IPN body is larger than this site accepts."))
    try:
        result = services.coinpayments_ipn_receive(
            body=body,
            hmac_header=request.headers.get("HMAC", ""),
            headers={"HMAC": request.headers.get("HMAC", ""), "User-Agent": request.headers.get("User-Agent", "")},
        )
    except PaymentError as exc:  # TransientFailure: 503, retry later; MalformedMessage: 400
        return _ipn_error(exc)
    except Exception:  # noqa: BLE001 - the provider must get 503 and retry, never a 500
        logger.exception("CoinPayments IPN: unexpected failure")
        return _ipn_error(TransientFailure("Temporarily unavailable; please retry."))
    if not result.accepted:
        return JsonResponse({"error": "ipn_refused", "message": f"IPN refused: {result.reason}"}, status=400)
    return HttpResponse("IPN OK", content_type="text/plain")


@login_required
def e9th_deposit(request: HttpRequest) -> HttpResponse:
    package_id = str(request.POST.get("package_id") or request.GET.get("package"))
    package = CreditPackage.objects.filter(pk=int(package_id), active=True).first() if package_id.isdecimal() else None
    if package is None:
        messages.error(request, _("Choose a package to pay with E9th stablecoin."))
        return redirect("payments:recharge")
    form = ChainClaimForm(request.POST or None, initial={"package_id": package.pk})
    linked = selectors.linked_wallet(user_id=signed_in_member(request).pk)
    if request.method == "POST" and form.is_valid():
        if linked is None:
            messages.error(request, _("Link your wallet first: the deposit must come from it."))
            return redirect("payments:wallet_connect")
        claimed = _claim_deposit(request, form, package=package, linked=linked)
        if claimed is not None:
            return claimed
    return render(request, "payments/e9th_deposit.html", _deposit_context(package, linked=linked, form=form))


def _claim_deposit(
    request: HttpRequest, form: ChainClaimForm, *, package: CreditPackage, linked: LinkedWallet
) -> HttpResponse | None:
    """Claim the deposit; the payment's page on success or pending, None (the error on the form)
    when the claim is refused."""
    try:
        outcome = services.e9th_purchase(
            user=signed_in_member(request),
            package_id=package.pk,
            tx_hash=form.cleaned_data["tx_hash"],
            wallet_address=linked.address,
        )
    except PaymentError as exc:
        form.add_error("tx_hash", exc.message)
        return None
    if outcome.status is services.ChainStatus.PENDING:
        messages.info(request, outcome.message)
    return redirect("payments:checkout", pk=outcome.payment.pk)


def _deposit_context(package: CreditPackage, *, linked: LinkedWallet | None, form: ChainClaimForm) -> dict[str, object]:
    # The token's real decimals (the setting, else the contract), never an assumed 18.
    decimals = services.e9th_token_decimals()
    units = services.token_units_for(package.usd_cents, decimals) if decimals is not None else None
    return {
        "package": package,
        "usd": selectors.cents_to_usd(package.usd_cents),
        "token_units": units,
        "token_amount": Decimal(units).scaleb(-decimals) if units is not None and decimals is not None else None,
        "deposit_address": settings.E9TH_DEPOSIT_ADDRESS,
        "token_address": settings.E9TH_TOKEN_ADDRESS,
        "required": settings.E9TH_MIN_CONFIRMATIONS,
        "linked": linked,
        "form": form,
    }


@login_required
def wallet_connect(request: HttpRequest) -> HttpResponse:
    """Link a wallet: get a one-time message, sign it (browser wallet or by hand), paste it."""
    challenge = None
    form = WalletLinkForm()
    if request.method == "POST" and request.POST.get("action") == "challenge":
        challenge = services.wallet_challenge_create(user=signed_in_member(request))
        if request.headers.get("Accept") == "application/json":
            return JsonResponse({"message": challenge.message, "nonce": challenge.nonce})
    elif request.method == "POST":
        form = WalletLinkForm(request.POST)
        if form.is_valid() and _link_wallet(request, form):
            messages.success(request, _("Your E9th wallet is linked."))
            target = request.POST.get("next", "")
            local = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
            return redirect(target if local else "payments:wallet_connect")  # never off-site (issue 11 item 14)
    return render(
        request,
        "payments/wallet_connect.html",
        {"challenge": challenge, "form": form, "linked": selectors.linked_wallet(user_id=signed_in_member(request).pk)},
    )


def _link_wallet(request: HttpRequest, form: WalletLinkForm) -> bool:
    try:
        services.wallet_link(
            user=signed_in_member(request),
            wallet_address=form.cleaned_data["wallet_address"],
            signature=form.cleaned_data["signature"],
        )
    except PaymentError as exc:
        page_error(request, exc)
        return False
    return True
