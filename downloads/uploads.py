"""EA uploads are refused while they stream in, not after Django has read them to disk.

`guard_upload(request)` runs before anything reads the body: it applies the per-member rate
limit (django-ratelimit) and the storage quota, then installs `CappedUploadHandler` in front of
Django's handlers. The handler refuses a body whose Content-Length cannot fit before reading a
byte, and stops reading (`StopUpload(connection_reset=True)`) as soon as one file passes the
cap, so an oversized upload costs us at most one chunk (64 KiB). nginx enforces the outer
request body limit (config/nginx.conf, `client_max_body_size`).
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, QueryDict
from django.template.defaultfilters import filesizeformat
from django.utils.datastructures import MultiValueDict
from django_ratelimit.core import is_ratelimited

from . import selectors

# Room for the form's text fields next to the two files (EA and report).
FIELDS_ALLOWANCE = 64 * 1024


@dataclass
class UploadGuard:
    """What the view needs to know: why the upload was refused (None while it was not)."""

    refused: str | None = None
    field: str | None = None  # the form field the message belongs to (None: the whole form)
    status: int = 400
    handler: "CappedUploadHandler | None" = dataclasses.field(default=None, repr=False)

    @property
    def message(self) -> str | None:
        return self.refused or (self.handler.refused if self.handler else None)


class CappedUploadHandler(FileUploadHandler):
    """Counts each file's bytes as they arrive; past `cap`, stops reading the request."""

    def __init__(self, request: HttpRequest, *, cap: int, reason: str) -> None:
        super().__init__(request)
        self.cap, self.reason = cap, reason
        self.refused: str | None = None

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> tuple[QueryDict, MultiValueDict[str, Any]] | None:
        if content_length > 2 * self.cap + FIELDS_ALLOWANCE:
            # Nothing read: an empty form, which the view answers with the message.
            self.refused = self.reason
            return QueryDict(), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.cap:
            self.refused = self.reason
            raise StopUpload(connection_reset=True)  # the rest of the body is never read
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers build the file


def guard_upload(request: HttpRequest, *, user_id: int) -> UploadGuard:
    """Call before touching request.POST/FILES (the view is csrf_exempt, then csrf_protect)."""
    max_bytes = settings.DOWNLOADS_UPLOAD_MAX_BYTES
    if request.method != "POST":
        return UploadGuard()
    rate = settings.DOWNLOADS_UPLOAD_RATE
    if is_ratelimited(request, group="downloads.ea_upload", key="user", rate=rate, method="POST", increment=True):
        return UploadGuard(refused="You have uploaded many EAs in a short time; please try again later.", status=429)
    left = settings.DOWNLOADS_UPLOAD_QUOTA_BYTES - selectors.upload_bytes_used(user_id=user_id)
    if left <= 0:
        return UploadGuard(refused=quota_message())
    if left < max_bytes:
        reason = f"The file is larger than the {filesizeformat(left)} left of your upload quota. " + quota_message()
        cap = left
    else:
        reason, cap = f"The file is larger than the limit of {filesizeformat(max_bytes)}.", max_bytes
    handler = CappedUploadHandler(request, cap=cap, reason=reason)
    request.upload_handlers = [handler, *request.upload_handlers]  # first: it sees every chunk
    return UploadGuard(field="file", handler=handler)


def quota_message() -> str:
    quota = filesizeformat(settings.DOWNLOADS_UPLOAD_QUOTA_BYTES)
    return f"Your uploads may take up {quota} in all; ask staff to remove old ones to upload more."
