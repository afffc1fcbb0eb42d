"""The tables a city loads into epicity: names, columns, types and rules.

This module is the single source of truth for `docs/data-formats.md`, the synthetic city's
writer and the ingest validator. Nothing here touches a file or a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "ALL_TABLES",
    "CARD",
    "CASES",
    "CELL",
    "DAILY_COUNTS",
    "DERIVED_TABLES",
    "ENTRIES",
    "GPS",
    "MERCHANTS",
    "PEOPLE",
    "ROUTES",
    "TABLES_BY_NAME",
    "TOWERS",
    "Column",
    "Kind",
    "Table",
]


class Kind(Enum):
    """Logical column types; `sql` is the DuckDB/Parquet type each is stored as."""

    ID = "id"  # integer identifier (pseudonyms for people)
    INT = "int"
    FLOAT = "float"
    TEXT = "text"
    BOOL = "bool"
    TIMESTAMP = (
        "timestamp"  # UTC instant; ISO 8601 with offset in CSV, UTC epoch allowed in Parquet
    )
    DATE = "date"  # calendar date in the city's time zone
    TIME_OF_DAY = "time_of_day"  # "HH:MM", may exceed 24:00 for venues open past midnight

    @property
    def sql(self) -> str:
        """The DuckDB type a column of this kind is stored as."""
        return _SQL_TYPES[self]


_SQL_TYPES = {
    Kind.ID: "BIGINT",
    Kind.INT: "BIGINT",
    Kind.FLOAT: "DOUBLE",
    Kind.TEXT: "VARCHAR",
    Kind.BOOL: "BOOLEAN",
    Kind.TIMESTAMP: "TIMESTAMPTZ",
    Kind.DATE: "DATE",
    Kind.TIME_OF_DAY: "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    """One column: its name, type, whether it may be empty, and its allowed range."""

    name: str
    kind: Kind
    required: bool = True  # the column must be present in the file
    nullable: bool = False  # a present column may hold empty values
    minimum: float | None = None
    maximum: float | None = None
    references: str | None = None  # "table.column" that must hold this value
    choices: tuple[str, ...] | None = None
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """A loadable table: its columns, key and whether it is partitioned by day."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # rows with equal key are the same record (idempotent loads)
    time_column: str | None = None  # set for record tables stored partitioned by day
    doc: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of all columns, in documented order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """Look up a column by name."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def partitioned(self) -> bool:
        """Whether the store keeps this table as one partition per UTC day."""
        return self.time_column is not None


def _person(doc: str = "pseudonymous person identifier") -> Column:
    return Column("person_id", Kind.ID, minimum=0, doc=doc)


def _lat(name: str = "lat", **kw: object) -> Column:
    return Column(name, Kind.FLOAT, minimum=-90, maximum=90, doc="WGS84 latitude, degrees", **kw)  # type: ignore[arg-type]


def _lon(name: str = "lon", **kw: object) -> Column:
    return Column(name, Kind.FLOAT, minimum=-180, maximum=180, doc="WGS84 longitude, degrees", **kw)  # type: ignore[arg-type]


TOWERS = Table(
    "towers",
    (
        Column("tower_id", Kind.ID, minimum=0, doc="cell identifier (e.g. the ECGI as an integer)"),
        _lat(),
        _lon(),
        Column("range_m", Kind.FLOAT, minimum=1, maximum=100_000, doc="nominal serving radius"),
    ),
    key=("tower_id",),
    doc="Cell towers (one row per cell) of every carrier that supplies connection records.",
)

MERCHANTS = Table(
    "merchants",
    (
        Column("merchant_id", Kind.ID, minimum=0, doc="venue / merchant identifier"),
        Column("name", Kind.TEXT, doc="business name"),
        Column("category", Kind.TEXT, doc="venue kind, e.g. restaurant, cafe, church, club"),
        _lat(),
        _lon(),
        Column("indoor", Kind.BOOL, doc="true when visits happen indoors"),
        Column("district", Kind.TEXT, required=False, nullable=True, doc="district name"),
        Column(
            "opens", Kind.TIME_OF_DAY, required=False, nullable=True, doc="local opening time HH:MM"
        ),
        Column(
            "closes",
            Kind.TIME_OF_DAY,
            required=False,
            nullable=True,
            doc="local closing time HH:MM; above 24:00 when open past midnight",
        ),
    ),
    key=("merchant_id",),
    doc="Venues: card merchants and places that keep an electronic visitor log.",
)

PEOPLE = Table(
    "people",
    (
        _person(),
        Column("age", Kind.INT, minimum=0, maximum=120, nullable=True),
        Column("sex", Kind.TEXT, nullable=True, choices=("female", "male")),
        Column("district", Kind.TEXT, nullable=True, doc="district of residence"),
        _lat("home_lat", required=False, nullable=True),
        _lon("home_lon", required=False, nullable=True),
        Column("household_id", Kind.ID, required=False, nullable=True, minimum=0),
    ),
    key=("person_id",),
    doc="Residents (registry extract). Home coordinates are personal data.",
)

CASES = Table(
    "cases",
    (
        _person(),
        Column("symptom_onset", Kind.DATE, nullable=True, doc="empty when asymptomatic"),
        Column("test_date", Kind.DATE, nullable=True),
        Column("confirmed_date", Kind.DATE),
        Column("released_date", Kind.DATE, required=False, nullable=True),
        Column("deceased_date", Kind.DATE, required=False, nullable=True),
        Column(
            "state",
            Kind.TEXT,
            required=False,
            nullable=True,
            choices=("isolated", "released", "deceased"),
        ),
        Column(
            "infected_by",
            Kind.ID,
            required=False,
            nullable=True,
            minimum=0,
            doc="person_id of the known source case, when investigators found one",
        ),
        Column(
            "cluster",
            Kind.TEXT,
            required=False,
            nullable=True,
            doc="named cluster or infection route, e.g. 'Itaewon Clubs'",
        ),
        Column("district", Kind.TEXT, required=False, nullable=True),
        Column("province", Kind.TEXT, required=False, nullable=True),
        Column("sex", Kind.TEXT, required=False, nullable=True, choices=("female", "male")),
        Column("age_group", Kind.TEXT, required=False, nullable=True, doc="e.g. '30s'"),
        Column("contact_number", Kind.INT, required=False, nullable=True, minimum=0),
    ),
    key=("person_id",),
    doc="Confirmed cases known to the health department.",
)

GPS = Table(
    "gps",
    (
        _person(),
        Column("ts", Kind.TIMESTAMP),
        _lat(),
        _lon(),
        Column(
            "accuracy_m",
            Kind.FLOAT,
            minimum=0,
            maximum=10_000,
            doc="reported horizontal accuracy (68% radius), metres",
        ),
    ),
    key=("person_id", "ts"),
    time_column="ts",
    doc="Location fixes from a phone app (a fraction of people).",
)

CELL = Table(
    "cell",
    (
        _person(),
        Column("ts", Kind.TIMESTAMP),
        Column("tower_id", Kind.ID, minimum=0, references="towers.tower_id"),
    ),
    key=("person_id", "ts", "tower_id"),
    time_column="ts",
    doc="Cell-tower connection records from carriers (serving cell at an event).",
)

CARD = Table(
    "card",
    (
        _person(),
        Column("ts", Kind.TIMESTAMP),
        Column("merchant_id", Kind.ID, minimum=0, references="merchants.merchant_id"),
        Column("amount", Kind.FLOAT, minimum=0, doc="amount in the local currency (KRW)"),
    ),
    key=("person_id", "ts", "merchant_id", "amount"),
    time_column="ts",
    doc="Card (and transit card) transactions from issuers.",
)

ENTRIES = Table(
    "entries",
    (
        _person(),
        Column("ts", Kind.TIMESTAMP),
        Column("merchant_id", Kind.ID, minimum=0, references="merchants.merchant_id"),
    ),
    key=("person_id", "ts", "merchant_id"),
    time_column="ts",
    doc="Electronic visitor-log (QR) entries at high-risk venues.",
)

ROUTES = Table(
    "routes",
    (
        _person(),
        Column("date", Kind.DATE),
        Column("type", Kind.TEXT, doc="kind of place visited, e.g. hospital, store"),
        _lat(),
        _lon(),
        Column("province", Kind.TEXT, required=False, nullable=True),
        Column("district", Kind.TEXT, required=False, nullable=True),
    ),
    key=("person_id", "date", "type", "lat", "lon"),
    doc="Publicly disclosed case movements (date-level), e.g. DS4C PatientRoute.",
)

DAILY_COUNTS = Table(
    "daily_counts",
    (
        Column("date", Kind.DATE),
        Column("region", Kind.TEXT, doc="province, city or district name"),
        Column("confirmed", Kind.INT, minimum=0, doc="cumulative confirmed"),
        Column(
            "released",
            Kind.INT,
            minimum=0,
            required=False,
            nullable=True,
            doc="cumulative released",
        ),
        Column(
            "deceased",
            Kind.INT,
            minimum=0,
            required=False,
            nullable=True,
            doc="cumulative deceased",
        ),
        Column(
            "tested", Kind.INT, minimum=0, required=False, nullable=True, doc="cumulative tests"
        ),
    ),
    key=("date", "region"),
    doc="Official cumulative daily counts by region.",
)

# Reference tables come first so record tables can be checked against them.
ALL_TABLES: tuple[Table, ...] = (
    TOWERS,
    MERCHANTS,
    PEOPLE,
    CASES,
    GPS,
    CELL,
    CARD,
    ENTRIES,
    ROUTES,
    DAILY_COUNTS,
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in ALL_TABLES}
# Tables the store derives from the loaded ones (tracing's place-time index); never loaded.
DERIVED_TABLES = ("stay_index", "visit_index", "cell_runs_index", "index_settings")


def markdown_table(table: Table) -> str:
    """The table's columns as a Markdown table."""
    lines = [
        "| column | type | required | empty allowed | rule | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for c in table.columns:
        rules = []
        if c.minimum is not None:
            rules.append(f">= {c.minimum:g}")
        if c.maximum is not None:
            rules.append(f"<= {c.maximum:g}")
        if c.references:
            rules.append(f"in {c.references}")
        if c.choices:
            rules.append("one of " + ", ".join(c.choices))
        lines.append(
            f"| `{c.name}` | {c.kind.value} | {'yes' if c.required else 'no'} | "
            f"{'yes' if c.nullable else 'no'} | {'; '.join(rules)} | {c.doc} |"
        )
    return "\n".join(lines)


def markdown_section(table: Table) -> str:
    """A `docs/data-formats.md` section for one table: heading, description, key, columns."""
    layout = (
        f" Stored partitioned by the UTC day of `{table.time_column}`." if table.time_column else ""
    )
    key = ", ".join(f"`{k}`" for k in table.key)
    return f"### `{table.name}`\n\n{table.doc} Key: {key}.{layout}\n\n{markdown_table(table)}\n"


if __name__ == "__main__":  # python -m epicity.records.schema > sections for docs/data-formats.md
    print("\n".join(markdown_section(t) for t in ALL_TABLES))
