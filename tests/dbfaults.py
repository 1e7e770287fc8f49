"""Inject a database failure after a service committed: the answer must not depend on a read
that could fail once the money moved (issue 10, item 2)."""

import contextlib
from collections.abc import Iterator
from unittest import mock

from django.db import OperationalError, connection


def _database_down(execute, sql, params, many, context):
    raise OperationalError("server closed the connection unexpectedly")


@contextlib.contextmanager
def database_fails_after(target: str) -> Iterator[None]:
    """Run the real `target` (a dotted path, as for mock.patch), then make every later query on
    this connection fail: the work committed, and the database went away before the answer."""
    real = mock.patch(target).get_original()[0]
    with contextlib.ExitStack() as stack:

        def committed_then_down(*args, **kwargs):
            result = real(*args, **kwargs)
            stack.enter_context(connection.execute_wrapper(_database_down))
            return result

        stack.enter_context(mock.patch(target, side_effect=committed_then_down))
        yield
