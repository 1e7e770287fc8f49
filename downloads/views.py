"""HTML pages of downloads. Session-authenticated; POST forms carry CSRF; JS only enhances."""

import mimetypes
import uuid
from pathlib import PurePosixPath
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from accounts.requests import signed_in_member
from core.errors import page_error
from core.requests import signed_in_id
from wallet.errors import InsufficientFunds
from wallet.selectors import balance_for_user, default_currency

from . import links, selectors, services, uploads
from .api import job_payload
from .errors import DownloadError, ItemForbidden, Shortfall
from .forms import CatalogFilterForm, EAUploadForm, JobStartForm
from .links import LinkClaim
from .models import DownloadJob, DownloadRecord, Item, ItemKind, JobStatus, Unlock, item_storage, song_price_minor

PAGE_SIZE = 24


def _catalog_context(request: HttpRequest) -> dict[str, object]:
    form = CatalogFilterForm(request.GET or None)
    query = kind = ""
    if form.is_valid():
        query, kind = form.cleaned_data["q"], form.cleaned_data["kind"]
    user = request.user if request.user.is_authenticated else None
    items = selectors.catalog(user=user, query=query, kind=ItemKind(kind) if kind else None)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    currency = default_currency()
    ctx: dict[str, object] = {
        "filter_form": form,
        "query": query,
        "kind": kind,
        "page_obj": page,
        "song_price": currency.to_decimal(song_price_minor()),
        "max_songs": settings.DOWNLOADS_MAX_SONGS_PER_JOB,
        "kinds": [
            ("", _("Everything")),
            (ItemKind.SONG, _("Songs")),
            (ItemKind.EA, _("EAs")),
            (ItemKind.PREMIUM, _("Premium")),
        ],
    }
    if user is not None:
        ctx["free_tier"] = selectors.free_tier(user_id=user.pk)
        ctx["accessible_group_ids"] = set(user.groups.values_list("pk", flat=True))
    return ctx


@require_GET
def catalog(request: HttpRequest) -> HttpResponse:
    return render(request, "downloads/catalog.html", _catalog_context(request))


def _catalog_again(request: HttpRequest, *, status: int, **extra: object) -> HttpResponse:
    """The catalog shown again after a refused job, keeping what the member ticked."""
    picked = {int(v) for v in request.POST.getlist("item_ids")[:1000] if v.isdigit() and len(v) < 19}
    ctx = _catalog_context(request) | {
        "picked_ids": picked,
        "use_free_checked": bool(request.POST.get("use_free_downloads")),
        **extra,
    }
    return render(request, "downloads/catalog.html", ctx, status=status)


@login_required
@require_POST
def job_start(request: HttpRequest) -> HttpResponse:
    """Without `confirm`: the page that asks first (what the job holds, balance after). With it:
    start the job, once per confirmation key (a double submit lands on the same job)."""
    form = JobStartForm(request.POST)
    if not form.is_valid():
        errors = form.non_field_errors() or [e for errs in form.errors.values() for e in errs]
        return _catalog_again(request, status=400, job_errors=errors)
    picked = list(form.cleaned_data["item_ids"] or [])
    count = len(picked) or form.cleaned_data["newest"]
    user = signed_in_member(request)
    if request.POST.get("confirm") != "1":
        return _confirm_job(request, form=form, songs=count)
    try:
        started = services.job_start(
            user=user,
            requested_songs=count,
            item_ids=[i.pk for i in picked] or None,
            use_free_downloads=form.cleaned_data["use_free_downloads"],
            idempotency_key=form.cleaned_data["idempotency_key"] or None,
        )
    except InsufficientFunds as exc:
        what = ngettext("download %(n)s song", "download %(n)s songs", count) % {"n": count}
        return _catalog_again(request, status=402, insufficient=Shortfall.of(exc, what=what))
    except DownloadError as exc:
        return _catalog_again(request, status=exc.status, job_errors=[exc.message])
    return redirect("downloads:job", job_id=started.job.public_id)


def _confirm_job(request: HttpRequest, *, form: JobStartForm, songs: int) -> HttpResponse:
    """The confirmation page carries the member's choice on in hidden fields."""
    data = form.cleaned_data
    user = signed_in_member(request)
    if data["newest"] and (found := len(selectors.new_songs_for(user=user, limit=songs))) < songs:
        error = ngettext(
            "Only %(found)s song you have not downloaded yet is in the catalog; you asked for %(asked)s.",
            "Only %(found)s songs you have not downloaded yet are in the catalog; you asked for %(asked)s.",
            found,
        ) % {"found": found, "asked": songs}
        return _catalog_again(request, status=400, job_errors=[error])
    quote = selectors.job_quote(user=user, songs=songs, use_free_downloads=data["use_free_downloads"])
    hidden = [("item_ids", str(i.pk)) for i in data["item_ids"] or []]
    if data["newest"]:
        hidden.append(("newest", str(data["newest"])))
    if data["use_free_downloads"]:
        hidden.append(("use_free_downloads", "on"))
    ctx = {
        "heading": ngettext("Download %(n)s song", "Download %(n)s songs", songs) % {"n": songs},
        "songs": songs,
        "quote": quote,
        "action": reverse("downloads:job_start"),
        "back_url": reverse("downloads:catalog"),
        "submit_label": _("Start the download"),
        "hidden": hidden,
        "idempotency_key": uuid.uuid4().hex,
    }
    return render(request, "downloads/spend_confirm.html", ctx)


def _owned_job(request: HttpRequest, job_id: str) -> DownloadJob:
    job = selectors.job_for_owner(public_id=job_id, user_id=signed_in_id(request))
    if job is None:
        raise Http404("No such download job.")
    return job


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _owned_job(request, job_id)
    currency = default_currency()
    status = job_payload(request, job)
    return render(
        request,
        "downloads/job.html",
        {
            "job": job,
            "status": status,
            "percent": _percent(job),
            "held": currency.to_decimal(job.hold.amount if job.hold else 0),
            "charged": currency.to_decimal(job.credits_charged),
            "unit_price": currency.to_decimal(job.unit_price),
        },
    )


def _percent(job: DownloadJob) -> int:
    if job.is_completed:
        return 100
    return int(100 * job.progress_done / job.requested_songs) if job.requested_songs else 0


@login_required
@require_GET
def job_status(request: HttpRequest, job_id: str) -> JsonResponse:
    """Same-origin JSON the job page polls (session-authenticated, owner only)."""
    job = _owned_job(request, job_id)
    data = job_payload(request, job)
    data["percent"] = _percent(job)
    data["credits_available"] = str(balance_for_user(user_id=signed_in_id(request)).available_decimal)
    data["credits_charged"] = str(data["credits_charged"])
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item.objects.select_related("uploader", "access_group", "verified_by"), pk=pk)
    user = request.user if request.user.is_authenticated else None
    is_owner = user is not None and (user.is_staff or item.uploader_id == user.pk)
    if not item.is_listed and not is_owner:
        raise Http404("No such item.")
    ctx: dict[str, object] = {"item": item, "price": default_currency().to_decimal(item.price), "is_owner": is_owner}
    if user is not None:
        ctx["unlocked"] = Unlock.objects.filter(user_id=user.pk, item_id=item.pk).exists()
        ctx["can_access"] = selectors.can_access(user=user, item=item)
        if item.report_file:
            ctx["report_url"] = links.url(user_id=user.pk, kind="rep", object_id=item.pk)
    return render(request, "downloads/item.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def item_download(request: HttpRequest, pk: int) -> HttpResponse:
    """GET, or a POST without `confirm`: the page that asks first ("spend X, balance after Y").
    A confirmed POST charges (once per confirmation key) and sends the browser to the signed
    link. Free items and items the member already unlocked cost nothing and need no asking."""
    user = signed_in_member(request)
    item = selectors.listed_items().filter(pk=pk).first()
    confirmed = request.method == "POST" and request.POST.get("confirm") == "1"
    if item is None and request.method == "GET":
        raise Http404("No such item.")
    if item is not None and not confirmed:
        quote = selectors.item_quote(user=user, item=item)
        if request.method == "GET" or quote.cost:
            return _confirm_item(request, item=item, quote=quote)
    key = request.POST.get("idempotency_key", "")[:100] or None
    try:
        delivery = services.item_download(user=user, item_id=pk, idempotency_key=key)
    except InsufficientFunds:
        assert item is not None  # the service found it
        return _confirm_item(request, item=item, quote=selectors.item_quote(user=user, item=item), status=402)
    except DownloadError as exc:
        page_error(request, exc)
        return redirect("downloads:catalog")
    return redirect(links.url(user_id=user.pk, kind=delivery.link_kind, object_id=delivery.link_id))


def _confirm_item(request: HttpRequest, *, item: Item, quote: selectors.SpendQuote, status: int = 200) -> HttpResponse:
    if not selectors.can_access(user=signed_in_member(request), item=item):
        message = _("This item is only for members of %(group)s.") % {"group": item.access_group}
        page_error(request, ItemForbidden(message))
        return redirect("downloads:item", pk=item.pk)
    unlock = item.is_unlock and quote.cost
    ctx = {
        "heading": (_("Unlock “%(title)s”") if unlock else _("Download “%(title)s”")) % {"title": item.title},
        "item": item,
        "quote": quote,
        "action": reverse("downloads:item_download", args=[item.pk]),
        "back_url": reverse("downloads:item", args=[item.pk]),
        "submit_label": _("Unlock") if unlock else _("Download"),
        "hidden": [],
        "idempotency_key": uuid.uuid4().hex,
    }
    return render(request, "downloads/spend_confirm.html", ctx, status=status)


@csrf_exempt  # the body is read only after guard_upload installed its handler; csrf_protect below
@login_required
@require_http_methods(["GET", "POST"])
def ea_upload(request: HttpRequest) -> HttpResponse:
    return _ea_upload(request, uploads.guard_upload(request, user_id=signed_in_id(request)))


@csrf_protect
def _ea_upload(request: HttpRequest, guard: uploads.UploadGuard) -> HttpResponse:
    posted = request.method == "POST"  # bound even when the guard left the body unread (empty)
    form = EAUploadForm(request.POST, request.FILES) if posted else EAUploadForm()
    if posted and guard.message is None and form.is_valid():
        try:
            item = services.ea_submit(uploader=signed_in_member(request), **form.cleaned_data)
        except DownloadError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Thanks! Your EA is waiting for staff review; we will email you the result."))
            return redirect("downloads:item", pk=item.pk)
    if guard.message is not None:
        form.add_error(guard.field, guard.message)
    status = guard.status if posted else 200
    ctx = {"form": form, "max_bytes": settings.DOWNLOADS_UPLOAD_MAX_BYTES}
    return render(request, "downloads/upload.html", ctx, status=status)


# --- signed files ---------------------------------------------------------------------------


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "downloads/link_invalid.html", status=404)


def _stored_file(claim: LinkClaim) -> tuple[str, str] | None:
    """(storage name, download filename) of what a valid link names, if it still exists."""
    if claim.kind == "job":
        job = DownloadJob.objects.filter(pk=claim.object_id, user_id=claim.user_id, status=JobStatus.COMPLETED).first()
        return (job.archive_name, f"{job.public_id}.zip") if job is not None and job.archive_name else None
    if claim.kind == "rec":
        record = DownloadRecord.objects.select_related("item").filter(pk=claim.object_id, user_id=claim.user_id).first()
        return (record.item.file.name, _download_name(record.item)) if record is not None else None
    if claim.kind == "unl":
        unlock = Unlock.objects.select_related("item").filter(pk=claim.object_id, user_id=claim.user_id).first()
        return (unlock.item.file.name, _download_name(unlock.item)) if unlock is not None else None
    if claim.kind == "rep":
        item = Item.objects.filter(pk=claim.object_id).exclude(report_file="").first()
        return (item.report_file.name, PurePosixPath(item.report_file.name).name) if item is not None else None
    return None


@require_GET
def signed_file(request: HttpRequest, token: str) -> HttpResponseBase:
    """Serve the file a signed link names, to the user it was issued to, before it expires."""
    claim = links.verify(token)
    if claim is None:
        return _link_invalid(request)
    if request.user.is_authenticated and request.user.pk != claim.user_id:
        return _link_invalid(request)
    if not User.objects.filter(pk=claim.user_id, is_active=True).exists():
        return _link_invalid(request)
    found = _stored_file(claim)
    if found is None or not all(found):
        return _link_invalid(request)
    return _serve(*found)


def _download_name(item: Item) -> str:
    return f"{item.slug}{PurePosixPath(item.file.name).suffix}"


def _serve(name: str, filename: str) -> HttpResponseBase:
    prefix = settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    response: HttpResponseBase
    if prefix:
        # The web server streams the file from an `internal` location mapped to the storage root.
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(name)
        # Never None for an attachment; the fallback only satisfies the type.
        response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    else:
        storage = item_storage()
        try:
            handle = storage.open(name, "rb")
        except (FileNotFoundError, OSError):
            raise Http404("The file is missing.") from None
        response = FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response
