"""The access layer: the only way to read personal location records.

Tracing code never calls `LocationStore.connect` itself. It opens a reader for a stated
purpose, which is allowed only while an emergency is in force and only for roles that may see
personal data; every opened reader leaves exactly one ``location.read`` entry in the audit
log (actor, role, purpose, case, emergency, the location tables the SQL referred to, the rows
returned and the time taken), also when a query fails. Refused attempts are audited too
(``location.denied``)::

    access = LocationAccess(store, session_factory(engine), actor="kim", role="investigator")
    with access.open("timeline of case 17 for contact tracing", case_id=17) as reader:
        stays = reader.query("SELECT * FROM gps WHERE person_id = ? ORDER BY ts", [4711])

Results carry the store's pseudonymous ``person_id`` values, never names or phone numbers:
re-identification happens, when at all, in the operational database under its own rules.

The reader runs exactly one SELECT per call over the store's views (gps, cell, card,
entries, people, cases, towers, merchants, ...). Its DuckDB connection cannot read files
outside the store, write files or change its settings. It is a gate for the project's own
code, not a sandbox for SQL typed by end users.
"""

from __future__ import annotations

import abc
import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from epicity.db import make_engine, migrate, session_factory, session_scope
from epicity.privacy.errors import (
    AccessDenied,
    NoActiveEmergency,
    PrivacyError,
    PurposeRequired,
    QueryRefused,
)
from epicity.privacy.models import ROLES
from epicity.privacy.service import active_emergency, audit, declare_emergency
from epicity.records.store import LocationStore, sql_quote
from epicity.spark import check_engine

__all__ = [
    "LOCATION_TABLES",
    "MIN_PURPOSE_LENGTH",
    "PERSONAL_DATA_ROLES",
    "AuditedReader",
    "LocationAccess",
    "LocationReader",
    "check_query",
    "drill_access",
    "sandbox",
    "store_schema",
]

# Tables whose rows are personal data: reading them is what the audit log records.
# Personal data: the records, the registry, and the place-time index derived from the records.
LOCATION_TABLES = (
    "gps",
    "cell",
    "card",
    "entries",
    "people",
    "cases",
    "stay_index",
    "visit_index",
    "cell_runs_index",
)
PERSONAL_DATA_ROLES = ("admin", "investigator", "health_officer", "system")
MIN_PURPOSE_LENGTH = 10
# Table functions a query may use: they generate rows and read nothing.
_ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
_MAX_LOGGED_STATEMENTS = 20
_MAX_LOGGED_SQL = 500

Params = Sequence[Any] | Mapping[str, Any] | None


def check_purpose(purpose: str) -> str:
    """The purpose, stripped; `PurposeRequired` unless it says something (10+ characters)."""
    if not isinstance(purpose, str) or not purpose.strip():
        raise PurposeRequired("a purpose is required to read personal location data")
    text = " ".join(purpose.split())
    if len(text) < MIN_PURPOSE_LENGTH or not any(c.isalpha() for c in text):
        raise PurposeRequired(
            f"purpose {text!r} is too short: say why the data is needed "
            f"(at least {MIN_PURPOSE_LENGTH} characters, e.g. 'contact tracing of case 17')"
        )
    return text


def check_role(role: str) -> str:
    """The role, when it may read personal location data; `AccessDenied` or `PrivacyError`."""
    if role not in ROLES:
        raise PrivacyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if role not in PERSONAL_DATA_ROLES:
        raise AccessDenied(f"role {role} may read aggregates only")
    return role


class AuditedReader(abc.ABC):
    """What every location reader shares: the check of each query and the audit counters."""

    __slots__ = ("_rows", "_statements", "_tables")

    def __init__(self) -> None:
        self._rows = 0
        self._tables: dict[str, None] = {}
        self._statements: list[str] = []

    @property
    def rows_returned(self) -> int:
        """Rows returned so far by all queries of this reader."""
        return self._rows

    @property
    def tables(self) -> list[str]:
        """Location tables the queries referred to, in order of first use."""
        return list(self._tables)

    @abc.abstractmethod
    def schema(self) -> dict[str, list[str]]:
        """The stored tables and their columns: metadata only, no rows, not counted."""

    @abc.abstractmethod
    def query(
        self, sql: str, params: Params = None, inputs: Mapping[str, pa.Table] | None = None
    ) -> pa.Table:
        """Run one SELECT (parameters as ``?``/``$1`` list or ``$name`` dict); an Arrow table."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the reader (further queries raise `PrivacyError`)."""

    def query_numpy(self, sql: str, params: Params = None) -> dict[str, np.ndarray[Any, Any]]:
        """`query`, as a dict of NumPy arrays by column name."""
        table = self.query(sql, params)
        return {name: table.column(name).to_numpy() for name in table.column_names}

    def _check_inputs(self, inputs: Mapping[str, pa.Table]) -> None:
        clash = sorted(set(inputs) & {t.lower() for t in self.schema()})
        if clash:
            raise QueryRefused(f"input table {', '.join(clash)} has the name of a stored table")

    def _check(self, con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
        """`check_query`, noting the statement and the location tables it refers to."""
        if len(self._statements) < _MAX_LOGGED_STATEMENTS:
            text = " ".join(sql.split())
            self._statements.append(text[:_MAX_LOGGED_SQL])
        return check_query(con, sql, self._tables)

    def _summary(self) -> dict[str, Any]:
        return {"queries": len(self._statements), "sql": list(self._statements)}


def check_query(
    con: duckdb.DuckDBPyConnection, sql: str, noted: dict[str, None] | None = None
) -> set[str]:
    """Refuse anything but one SELECT using allowed table functions (`QueryRefused`); the
    names of the base tables it refers to, lower case. Parsed by DuckDB, nothing is run.

    The location tables referred to are added to `noted` (in order) before a refusal for a
    table function, so the audit records them even then.
    """
    rows = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    parsed: dict[str, Any] = json.loads(rows[0][0]) if rows else {"error": True}
    if parsed.get("error"):
        raise QueryRefused(
            f"the location reader runs one SELECT query only: {parsed.get('error_message')}"
        )
    statements: list[Any] = parsed.get("statements", [])
    if len(statements) != 1:
        raise QueryRefused(f"one statement per query, got {len(statements)}")
    tables: set[str] = set()
    functions: set[str] = set()
    _walk(statements[0], tables, functions)
    if noted is not None:
        for name in LOCATION_TABLES:
            if name in tables:
                noted.setdefault(name, None)
    refused = sorted(functions - _ALLOWED_TABLE_FUNCTIONS)
    if refused:
        raise QueryRefused(
            f"table function {', '.join(refused)} is not allowed: read the store's tables"
        )
    return tables


def sandbox(store: LocationStore) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """What a reader's DuckDB instance is prepared with: it may read the store's files and
    nothing else, and cannot undo this."""
    root = str(store.path.resolve()).rstrip("/") + "/"

    def prepare(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"SET allowed_directories = [{sql_quote(root)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    return prepare


class LocationReader(AuditedReader):
    """Runs SELECT queries on the location store for one audited access (see `open`)."""

    __slots__ = ("_con", "_schema")

    def __init__(self, store: LocationStore) -> None:
        super().__init__()
        self._con: duckdb.DuckDBPyConnection | None = store.shared_cursor(sandbox(store))
        self._schema: dict[str, list[str]] | None = None

    def schema(self) -> dict[str, list[str]]:
        """The stored tables and their columns: metadata only, no rows, not counted."""
        if self._schema is None:
            self._schema = store_schema(self._connection())  # fixed when the reader opens
        return {k: list(v) for k, v in self._schema.items()}

    def query(
        self, sql: str, params: Params = None, inputs: Mapping[str, pa.Table] | None = None
    ) -> pa.Table:
        """Run one SELECT (parameters as ``?``/``$1`` list or ``$name`` dict); an Arrow table.

        `inputs` are the caller's own tables (e.g. the keys of a case's places and hours),
        visible to the query under their names for its duration; they cannot shadow a stored
        table.
        """
        con = self._connection()
        inputs = dict(inputs or {})
        if inputs:
            self._check_inputs(inputs)
        self._check(con, sql)
        for name, table in inputs.items():
            con.register(name, table)
        try:
            result: pa.Table = con.sql(sql, params=params).to_arrow_table()
        finally:
            for name in inputs:
                con.unregister(name)
        self._rows += result.num_rows
        return result

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise PrivacyError("this location reader is closed; open a new one")
        return self._con

    def close(self) -> None:
        """Close the DuckDB connection (further queries raise `PrivacyError`)."""
        if self._con is not None:
            self._con.close()
            self._con = None


def store_schema(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The tables (views) of a store's DuckDB connection and their columns, by table name."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(str(table), []).append(str(column))
    return out


def _walk(node: Any, tables: set[str], functions: set[str]) -> None:
    """Collect base-table and table-function names from DuckDB's JSON parse tree."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            tables.add(node["table_name"].lower())
        elif kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            functions.add(str(function.get("function_name", "?")).lower())
        for value in node.values():
            _walk(value, tables, functions)
    elif isinstance(node, list):
        for value in node:
            _walk(value, tables, functions)


class LocationAccess:
    """The gate to a location store for one actor in one role."""

    def __init__(
        self,
        store: LocationStore,
        session_factory: Callable[[], Session],
        *,
        actor: str,
        role: str,
    ) -> None:
        if not actor or not actor.strip():
            raise PrivacyError("actor must not be empty")
        if role not in ROLES:
            raise PrivacyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        self.store = store
        self.actor = actor.strip()
        self.role = role
        self._sessions = session_factory

    @contextlib.contextmanager
    def open(
        self,
        purpose: str,
        case_id: int | None = None,
        *,
        cases: Sequence[int] = (),
        engine: str = "duckdb",
    ) -> Iterator[AuditedReader]:
        """A reader, if the role, the purpose and an emergency in force allow it.

        `cases` opens one reader for several cases traced together (a day's new cases): each
        gets its own audit entry, noting the batch it was read in. `engine` runs the queries
        on DuckDB (`LocationReader`) or on Apache Spark (`SparkLocationReader`, the same SQL
        and results); the audit is the same, and names the engine.

        Raises `AccessDenied`, `PurposeRequired` or `NoActiveEmergency` (each audited as
        ``location.denied``) before any file is touched. On leaving the block, also on an
        exception, writes one ``location.read`` audit entry.
        """
        engine = check_engine(engine)
        try:
            check_role(self.role)
            text = check_purpose(purpose)
            with self._sessions() as session:
                emergency = active_emergency(session)
                emergency_id = emergency.id if emergency is not None else None
            if emergency_id is None:
                raise NoActiveEmergency(
                    "no emergency is in force: personal location data may be read only "
                    "during a declared emergency (epicity emergency declare ...)"
                )
        except PrivacyError as exc:
            self._audit_denied(purpose, case_id, exc)
            raise
        started = time.perf_counter()
        reader = self._reader(engine)
        failure: BaseException | None = None
        try:
            yield reader
        except BaseException as exc:
            failure = exc
            raise
        finally:
            reader.close()
            detail = {
                "seconds": round(time.perf_counter() - started, 6),
                "store": str(self.store.path),
                "engine": engine,
                **reader._summary(),
            }
            if failure is not None:
                detail["error"] = f"{type(failure).__name__}: {failure}"[:_MAX_LOGGED_SQL]
            batch: list[int | None] = list(dict.fromkeys(int(c) for c in cases))
            if batch:
                detail["batch_of_cases"] = len(batch)
            with session_scope(self._sessions) as session:
                for one in batch or [case_id]:
                    audit(
                        session,
                        actor=self.actor,
                        role=self.role,
                        action="location.read",
                        purpose=text,
                        case_id=one,
                        emergency_id=emergency_id,
                        tables=reader.tables,
                        rows_returned=reader.rows_returned,
                        detail=detail,
                    )

    def _reader(self, engine: str) -> AuditedReader:
        if engine == "spark":
            # Imported here: the DuckDB path must work without the spark extra.
            from epicity.privacy.spark_reader import SparkLocationReader
            from epicity.spark import spark_session

            return SparkLocationReader(self.store, spark_session())
        return LocationReader(self.store)

    def _audit_denied(self, purpose: object, case_id: int | None, exc: PrivacyError) -> None:
        with session_scope(self._sessions) as session:
            audit(
                session,
                actor=self.actor,
                role=self.role,
                action="location.denied",
                purpose=purpose if isinstance(purpose, str) and purpose.strip() else None,
                case_id=case_id,
                detail={"error": type(exc).__name__, "message": str(exc)},
            )


@contextlib.contextmanager
def drill_access(
    store: LocationStore, database: Path, *, actor: str, emergency: str
) -> Iterator[LocationAccess]:
    """An investigator's access to `store` for a drill or a measurement on a synthetic city:
    a new SQLite database at `database` (migrated, with `emergency` declared) holds the
    audit log, so every read is still checked and recorded."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with sessions() as session:
            declare_emergency(session, name=emergency, area="Seoul", actor=actor)
            session.commit()
        yield LocationAccess(store, sessions, actor=actor, role="investigator")
    finally:
        engine.dispose()
