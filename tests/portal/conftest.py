# The same JSON API caller as the accounts tests (sign-in, then /api/users/*).
from tests.accounts.conftest import api  # noqa: F401
