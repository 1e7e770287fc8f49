"""Pages of payments (recharge, checkout, E9th deposit, wallet connection) and the IPN endpoint."""

import io
import logging
from decimal import Decimal

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from wallet.selectors import balance_for_user, default_currency

from . import selectors, services
from .errors import PaymentError, TransientFailure
from .forms import ChainClaimForm, CheckoutForm, WalletLinkForm
from .models import BonusTier, CreditPackage, Payment, PaymentStatus, Provider

logger = logging.getLogger(__name__)


def _methods() -> list[dict[str, object]]:
    cp_ready = bool(
        settings.COINPAYMENTS_PUBLIC_KEY and settings.COINPAYMENTS_PRIVATE_KEY and settings.COINPAYMENTS_MERCHANT_ID
    )
    e9th_ready = bool(settings.E9TH_RPC_URL and settings.E9TH_TOKEN_ADDRESS and settings.E9TH_DEPOSIT_ADDRESS)
    methods = [
        {"value": "coinpayments", "label": "USDT or other crypto (CoinPayments)", "available": cp_ready},
        {"value": "e9th", "label": "E9th stablecoin from your linked wallet", "available": e9th_ready},
    ]
    if services.demo_enabled():
        methods.append(
            {"value": "demo", "label": "Demo payment — no real money (development site only)", "available": True}
        )
    return methods


def recharge(request: HttpRequest) -> HttpResponse:
    methods = _methods()
    default_method = next((m["value"] for m in methods if m["available"]), "")
    return render(
        request,
        "payments/recharge.html",
        {
            "cards": selectors.package_rows(style=CreditPackage.Style.CARD),
            "coin_packs": selectors.package_rows(style=CreditPackage.Style.COIN_PACK),
            "methods": methods,
            "default_method": request.GET.get("method") or default_method,
            "coins": settings.COINPAYMENTS_ACCEPTED_COINS,
            "cny_rate": selectors.cny_per_usd(),
            "custom_min": Decimal(settings.PAYMENTS_CUSTOM_MIN_USD),
            "custom_max": Decimal(settings.PAYMENTS_CUSTOM_MAX_USD),
            "tiers": list(BonusTier.objects.all()),
        },
    )


@login_required
@require_POST
def start_checkout(request: HttpRequest) -> HttpResponse:
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("payments:recharge")
    data = form.cleaned_data
    try:
        quote = services.quote(
            package_id=data["package_id"],
            custom_amount_usd=None if data["package_id"] else data["custom_amount"],
        )
        if data["method"] == "e9th":
            if quote.package is None:
                messages.error(request, "E9th deposits buy a package: choose one of the packages.")
                return redirect("payments:recharge")
            return redirect(f"{reverse('payments:e9th_deposit')}?package={quote.package.pk}")
        if data["method"] == "demo":
            payment = services.demo_checkout(user=request.user, quote=quote)  # type: ignore[arg-type]
        else:
            payment = services.coinpayments_checkout(user=request.user, quote=quote, coin=data["coin"])  # type: ignore[arg-type]
    except PaymentError as exc:
        messages.error(request, exc.message)
        return redirect("payments:recharge")
    return redirect("payments:checkout", pk=payment.pk)


def _owned(request: HttpRequest, pk: int) -> Payment:
    payment = selectors.payment_for_owner(payment_id=pk, user_id=request.user.pk)
    if payment is None:
        raise Http404("No such payment.")
    return payment


@login_required
def checkout(request: HttpRequest, pk: int) -> HttpResponse:
    payment = _owned(request, pk)
    currency = default_currency()
    return render(
        request,
        "payments/checkout.html",
        {
            "payment": payment,
            "base": currency.to_decimal(payment.base_credits),
            "bonus": currency.to_decimal(payment.bonus_credits),
            "total": currency.to_decimal(payment.total_credits),
            "balance": balance_for_user(user_id=request.user.pk),
            "is_demo": payment.provider == Provider.DEMO,
            "is_open": payment.status in (PaymentStatus.PENDING, PaymentStatus.CONFIRMING),
        },
    )


@login_required
@require_GET
def status_json(request: HttpRequest, pk: int) -> JsonResponse:
    payment = _owned(request, pk)
    balance = balance_for_user(user_id=request.user.pk)
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
    segno.make(payment.address, error="m").save(buffer, kind="svg", scale=5, border=2, dark="#1c1917")
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def demo_pay(request: HttpRequest, pk: int) -> HttpResponse:
    _owned(request, pk)
    try:
        services.demo_pay(payment_id=pk, user=request.user)  # type: ignore[arg-type]
    except PaymentError as exc:
        messages.error(request, exc.message)
    return redirect("payments:checkout", pk=pk)


@csrf_exempt
@require_POST
def coinpayments_ipn(request: HttpRequest) -> HttpResponse:
    """200 for a genuine IPN (also a duplicate), 400 for a forged or mismatched one (stored,
    logged, nothing credited), 503 when our side fails transiently so CoinPayments retries."""
    try:
        result = services.coinpayments_ipn_receive(
            body=request.body,
            hmac_header=request.headers.get("HMAC", ""),
            headers={"HMAC": request.headers.get("HMAC", ""), "User-Agent": request.headers.get("User-Agent", "")},
        )
    except TransientFailure:
        return HttpResponse("Temporarily unavailable; please retry.", status=503, content_type="text/plain")
    except Exception:  # noqa: BLE001 - the provider must get 503 and retry, never a 500
        logger.exception("CoinPayments IPN: unexpected failure")
        return HttpResponse("Temporarily unavailable; please retry.", status=503, content_type="text/plain")
    if not result.accepted:
        return HttpResponse(f"IPN refused: {result.reason}", status=400, content_type="text/plain")
    return HttpResponse("IPN OK", content_type="text/plain")


@login_required
def e9th_deposit(request: HttpRequest) -> HttpResponse:
    package_id = request.POST.get("package_id") or request.GET.get("package")
    package = CreditPackage.objects.filter(pk=package_id, active=True).first() if str(package_id).isdigit() else None
    if package is None:
        messages.error(request, "Choose a package to pay with E9th stablecoin.")
        return redirect("payments:recharge")
    form = ChainClaimForm(request.POST or None, initial={"package_id": package.pk})
    linked = selectors.linked_wallet(user_id=request.user.pk)
    if request.method == "POST" and form.is_valid():
        if linked is None:
            messages.error(request, "Link your wallet first: the deposit must come from it.")
            return redirect("payments:wallet_connect")
        try:
            outcome = services.e9th_purchase(
                user=request.user,  # type: ignore[arg-type]
                package_id=package.pk,
                tx_hash=form.cleaned_data["tx_hash"],
                wallet_address=linked.address,
            )
        except PaymentError as exc:
            form.add_error("tx_hash", exc.message)
        else:
            if outcome.status == "pending":
                messages.info(request, outcome.message)
            return redirect("payments:checkout", pk=outcome.payment.pk)
    decimals = settings.E9TH_TOKEN_DECIMALS if settings.E9TH_TOKEN_DECIMALS is not None else 18
    return render(
        request,
        "payments/e9th_deposit.html",
        {
            "package": package,
            "usd": selectors.cents_to_usd(package.usd_cents),
            "token_units": services.token_units_for(package.usd_cents, decimals),
            "deposit_address": settings.E9TH_DEPOSIT_ADDRESS,
            "token_address": settings.E9TH_TOKEN_ADDRESS,
            "required": settings.E9TH_MIN_CONFIRMATIONS,
            "linked": linked,
            "form": form,
        },
    )


@login_required
def wallet_connect(request: HttpRequest) -> HttpResponse:
    """Link a wallet: get a one-time message, sign it (browser wallet or by hand), paste it."""
    challenge = None
    form = WalletLinkForm()
    if request.method == "POST" and request.POST.get("action") == "challenge":
        challenge = services.wallet_challenge_create(user=request.user)  # type: ignore[arg-type]
        if request.headers.get("Accept") == "application/json":
            return JsonResponse({"message": challenge.message, "nonce": challenge.nonce})
    elif request.method == "POST":
        form = WalletLinkForm(request.POST)
        if form.is_valid():
            try:
                services.wallet_link(
                    user=request.user,  # type: ignore[arg-type]
                    wallet_address=form.cleaned_data["wallet_address"],
                    signature=form.cleaned_data["signature"],
                )
            except PaymentError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "Your E9th wallet is linked.")
                return redirect(request.POST.get("next") or "payments:wallet_connect")
    return render(
        request,
        "payments/wallet_connect.html",
        {"challenge": challenge, "form": form, "linked": selectors.linked_wallet(user_id=request.user.pk)},
    )
