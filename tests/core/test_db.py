"""core.db.PreparedStatement: the same rows as plain SQL, and it recovers when the server no
longer has the statement (DISCARD ALL, a pooler, a changed table)."""

import itertools

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.db import PreparedStatement

_names = itertools.count()


def _statement(sql: str) -> PreparedStatement:
    return PreparedStatement(f"goldbook_test_{next(_names)}", sql)


def _executed(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split("(")[0].split(" AS ")[0] for q in ctx.captured_queries]


def test_named_parameters_become_positions_in_order_of_first_use():
    st = _statement("SELECT %(b)s::int + %(a)s::int + %(b)s::int")
    assert st.param_names == ["b", "a"]
    assert st.prepare_sql.endswith("AS SELECT $1::int + $2::int + $1::int")
    assert st.execute_sql == f"EXECUTE {st.name}(%(b)s, %(a)s)"


def test_a_name_is_used_once():
    st = _statement("SELECT 1")
    with pytest.raises(ValueError):
        PreparedStatement(st.name, "SELECT 2")
    with pytest.raises(ValueError):
        PreparedStatement("no; DROP TABLE x", "SELECT 1")


@pytest.mark.django_db
def test_inside_a_transaction_it_runs_the_plain_statement():
    st = _statement("SELECT %(a)s * 2")
    with CaptureQueriesContext(connection) as ctx:
        assert st.fetchone({"a": 21}) == (42,)
    assert connection.in_atomic_block
    assert not any(q["sql"].startswith(("PREPARE", "EXECUTE")) for q in ctx.captured_queries)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prepared_once_per_connection_then_executed():
    st = _statement("SELECT %(a)s::int * 2, %(b)s::text")
    with CaptureQueriesContext(connection) as ctx:
        assert st.fetchone({"a": 21, "b": "x"}) == (42, "x")
        assert st.fetchone({"a": 1, "b": "y"}) == (2, "y")
    assert _executed(ctx) == [f"PREPARE {st.name}", f"EXECUTE {st.name}", f"EXECUTE {st.name}"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_recovers_when_the_server_forgot_the_statement():
    st = _statement("SELECT %(a)s::int + 1")
    assert st.fetchone({"a": 1}) == (2,)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what DISCARD ALL or a pooler's reset does
    assert st.fetchone({"a": 2}) == (3,)
    assert st.fetchone({"a": 3}) == (4,)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_recovers_when_a_table_changes_under_a_prepared_plan():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE goldbook_prepared_probe (a int)")
        cursor.execute("INSERT INTO goldbook_prepared_probe VALUES (1)")
    try:
        st = _statement("SELECT * FROM goldbook_prepared_probe WHERE a = %(a)s")
        assert st.fetchone({"a": 1}) == (1,)
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE goldbook_prepared_probe ADD COLUMN b int DEFAULT 7")
        assert st.fetchone({"a": 1}) == (1, 7)  # "cached plan must not change result type": prepared again
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE goldbook_prepared_probe")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again(settings):
    st = _statement("SELECT %(a)s::int")
    assert st.fetchone({"a": 1}) == (1,)
    connection.close()
    with CaptureQueriesContext(connection) as ctx:
        assert st.fetchone({"a": 2}) == (2,)
    assert [s for s in _executed(ctx) if s.startswith(("PREPARE", "EXECUTE"))] == [
        f"PREPARE {st.name}",
        f"EXECUTE {st.name}",
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_setting_turns_it_off(settings):
    settings.GOLDBOOK_SQL_PREPARE = False
    st = _statement("SELECT %(a)s::int")
    with CaptureQueriesContext(connection) as ctx:
        assert st.fetchone({"a": 5}) == (5,)
    assert not any(q["sql"].startswith(("PREPARE", "EXECUTE")) for q in ctx.captured_queries)
    with transaction.atomic():
        assert st.fetchone({"a": 6}) == (6,)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_stands_in_for_the_health_check_and_replaces_a_dead_connection(monkeypatch):
    from django.db import connections

    st = _statement("SELECT %(a)s::int")
    assert st.fetchone({"a": 1}) == (1,)
    assert connection.health_check_enabled
    checks = []
    real_is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or real_is_usable())

    connection.health_check_done = False  # a new request (close_old_connections does this)
    assert st.fetchone({"a": 2}) == (2,)
    assert checks == []  # no "SELECT 1" round trip: the statement itself was the check

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    finally:
        other.close()
    connection.health_check_done = False
    assert st.fetchone({"a": 3}) == (3,)  # the dead connection was replaced, as the check would have
    assert checks == [1]
    assert st.fetchone({"a": 4}) == (4,)


@pytest.mark.postgres
def test_ensure_database_creates_a_missing_database_once():
    """A fresh machine has only `postgres`, `root` and `test`: make's createdb (run by checks,
    migrate and the tests under CI) creates the database DATABASE_URL names, and is a no-op after."""
    import psycopg2

    from core.db import ensure_database

    db = connection.settings_dict
    server = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    name = "gb_fresh_machine_check"

    def exists() -> bool:
        with psycopg2.connect(f"{server}/postgres") as admin, admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None

    def drop() -> None:
        admin = psycopg2.connect(f"{server}/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()

    drop()
    try:
        assert not exists()
        ensure_database(f"{server}/{name}")
        assert exists()
        ensure_database(f"{server}/{name}")  # already there: nothing happens
        ensure_database("sqlite:///db.sqlite3")  # not PostgreSQL: nothing to do
    finally:
        drop()
