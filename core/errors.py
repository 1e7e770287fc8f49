"""One error family for the whole site.

Every domain error is a `GoldbookError`: an HTTP status, a short machine code, a sentence for a
human and optional extra fields a contract adds (`needed`, `retry_after`, …). Services raise
them; the API answers `error_body(exc)` with `exc.status` (one handler in `core.api`), pages
show `exc.message` through `page_error`. Nothing else maps errors to statuses.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise


class GoldbookError(Exception):
    """Raise with a message (or the class's default) and extra JSON fields; `status` and `code`
    come from the class, or from keyword arguments for a one-off error an API builds itself."""

    status: int = 400
    code: str = "invalid_request"
    # Lazy (gettext_lazy): a class default is translated when the error is raised, in the language
    # of the request it answers (LocaleMiddleware and accounts.middleware activated it). The
    # `code` stays English: clients match on it.
    default_message: StrOrPromise = _("The request could not be completed.")

    def __init__(
        self, message: StrOrPromise | None = None, *, status: int | None = None, code: str | None = None, **extra: Any
    ) -> None:
        self.message = str(message if message is not None else self.default_message)
        super().__init__(self.message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.extra: dict[str, Any] = extra

    def __str__(self) -> str:
        return self.message


def error_body(exc: GoldbookError) -> dict[str, Any]:
    """The JSON error every endpoint answers: `{"error": code, "message": sentence, **extra}`."""
    return {"error": exc.code, "message": exc.message, **exc.extra}


def page_error(request: HttpRequest, exc: GoldbookError) -> None:
    """Show a domain error on the next page the member sees (forms re-render instead, with the
    message as a non-field error)."""
    messages.error(request, exc.message)


def _wide(char: str) -> bool:
    """A CJK character or full-width punctuation: Chinese puts no space between sentences."""
    return "\u2e80" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef" or "\u3000" <= char <= "\u303f"


def join_sentences(*parts: str) -> str:
    """Sentences (or clauses) as one text: a space between them in English, none in Chinese."""
    text = ""
    for part in filter(None, (p.strip() for p in parts)):
        text = f"{text}{'' if not text or _wide(text[-1]) or _wide(part[0]) else ' '}{part}"
    return text
