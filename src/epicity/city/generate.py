"""Generate a synthetic city and write the records a real city would hold, day by day.

Output directory (formats in docs/data-formats.md):
- `towers`, `merchants`, `people`, `cases`, `gps`, `cell`, `card`, `entries` (.parquet or .csv):
  what the city's systems hold, loadable with `epicity ingest`;
- `truth/places`, `truth/stays`, `truth/infections`: the ground truth, kept apart, for measuring
  the accuracy of investigations;
- `city.json`: the parameters and counts of the run.

Record tables are streamed one day at a time, so memory stays bounded by one day of one city.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from epicity.city.districts import seoul_districts
from epicity.city.outbreak import NEVER, Outbreak
from epicity.city.places import KINDS, Places, build_towers, kind_code, projection
from epicity.city.population import Population, build_population
from epicity.city.routines import DAY, CarryOver, DayStays, Travel, day_stays
from epicity.city.sensors import Records, card_records, cell_records, entry_records, gps_records

__all__ = ["CityConfig", "GenerationReport", "generate_city"]

Format = Literal["parquet", "csv"]
TS = pa.timestamp("us", tz="UTC")
PERSON_BLOCK = 200_000  # sensors are generated for this many people at a time
MERCHANT_KINDS = frozenset(
    k.name for k in KINDS if k.name not in ("home", "office", "school", "call_centre")
)


@dataclass(frozen=True)
class CityConfig:
    """Parameters of a synthetic city run."""

    people: int = 10_000
    days: int = 14
    seed: int = 1
    start: date = date(2020, 3, 2)  # a Monday
    timezone: str = "Asia/Seoul"
    seed_infections: int | None = None  # default: 5 + people / 5,000
    transmission: float = 1.0  # multiplies every transmission rate
    format: Format = "parquet"

    def validate(self) -> None:
        """Raise ValueError naming the parameter when a value is unusable."""
        if not 1 <= self.people <= 20_000_000:
            raise ValueError(f"people: must be between 1 and 20,000,000, got {self.people}")
        if not 1 <= self.days <= 366:
            raise ValueError(f"days: must be between 1 and 366, got {self.days}")
        if self.seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {self.seed}")
        if self.transmission < 0:
            raise ValueError(f"transmission: must not be negative, got {self.transmission}")
        if self.seed_infections is not None and not 0 <= self.seed_infections <= self.people:
            raise ValueError(
                f"seed_infections: must be between 0 and people, got {self.seed_infections}"
            )
        if self.format not in ("parquet", "csv"):
            raise ValueError(f"format: must be parquet or csv, got {self.format!r}")
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from exc

    @property
    def initial_infections(self) -> int:
        """Number of people infected before day 0."""
        if self.seed_infections is not None:
            return self.seed_infections
        return min(self.people, 5 + self.people // 5_000)


@dataclass
class GenerationReport:
    """What a run produced."""

    config: CityConfig
    rows: dict[str, int] = field(default_factory=dict)
    places_by_kind: dict[str, int] = field(default_factory=dict)
    towers: int = 0
    infections: int = 0
    cases: int = 0
    infections_by_setting: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        """Rows in the four location-record tables."""
        return sum(self.rows.get(t, 0) for t in ("gps", "cell", "card", "entries"))


class _Sink:
    """Appends Arrow batches to one table file (Parquet or CSV with ISO times and offsets)."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: Format, tz: str) -> None:
        self.path = path.with_suffix(f".{fmt}")
        self.fmt = fmt
        self.tz = tz
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self.path, schema, compression="zstd")
        else:
            self._writer = pa_csv.CSVWriter(self.path, self._csv_schema(schema))

    def _csv_schema(self, schema: pa.Schema) -> pa.Schema:
        return pa.schema([pa.field(f.name, pa.string()) if f.type == TS else f for f in schema])

    def _to_csv(self, table: pa.Table) -> pa.Table:
        cols = []
        for name in table.column_names:
            col = table[name]
            if col.type == TS:
                local = pc.strftime(
                    col.cast(pa.timestamp("s", tz=self.tz)), format="%Y-%m-%dT%H:%M:%S%z"
                )
                # %z gives +0900; ISO 8601's extended format wants +09:00.
                col = pc.replace_substring_regex(
                    local, pattern=r"([+-]\d\d)(\d\d)$", replacement=r"\1:\2"
                )
            cols.append(col)
        return pa.table(cols, names=table.column_names)

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        self._writer.write_table(self._to_csv(table) if self.fmt == "csv" else table)

    def close(self) -> None:
        self._writer.close()


class _Sinks:
    def __init__(self, out: Path, fmt: Format, tz: str) -> None:
        self.out, self.fmt, self.tz = out, fmt, tz
        self.sinks: dict[str, _Sink] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.sinks:
            self.sinks[name] = _Sink(self.out / name, table.schema, self.fmt, self.tz)
        self.sinks[name].write(table)

    def __enter__(self) -> _Sinks:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sink in self.sinks.values():
            sink.close()

    def rows(self) -> dict[str, int]:
        return {name: sink.rows for name, sink in self.sinks.items()}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _ts(day_start_utc: int, seconds: NDArray[np.integer] | NDArray[np.floating]) -> pa.Array:
    return pa.array((day_start_utc + np.asarray(seconds, dtype=np.int64)) * 1_000_000, type=TS)


def _reference_tables(
    pop: Population,
    places: Places,
    towers_lat: NDArray[np.float64],
    towers_lon: NDArray[np.float64],
    towers_range: NDArray[np.float64],
    sinks: _Sinks,
) -> None:
    names = np.array([d.name for d in seoul_districts()])
    sinks.write(
        "towers",
        pa.table(
            {
                "tower_id": np.arange(1, len(towers_lat) + 1, dtype=np.int64),
                "lat": np.round(towers_lat, 6),
                "lon": np.round(towers_lon, 6),
                "range_m": towers_range,
            }
        ),
    )
    kind_names = np.array([k.name for k in KINDS])
    is_merchant = np.isin(kind_names[places.kind], list(MERCHANT_KINDS))
    idx = np.flatnonzero(is_merchant)
    kinds = places.kind[idx]
    label = np.char.replace(kind_names[kinds], "_", " ")
    label = np.char.title(label)
    short = np.char.replace(names[places.district[idx]], "-gu", "")
    sinks.write(
        "merchants",
        pa.table(
            {
                "merchant_id": idx + 1,
                "name": np.char.add(
                    np.char.add(np.char.add(short, " "), label),
                    np.char.add(" ", (idx + 1).astype(str)),
                ),
                "category": kind_names[kinds],
                "lat": np.round(places.lat[idx], 6),
                "lon": np.round(places.lon[idx], 6),
                "indoor": np.array([k.indoor for k in KINDS])[kinds],
                "district": names[places.district[idx]],
                "opens": np.array([_hhmm(k.opens) for k in KINDS])[kinds],
                "closes": np.array([_hhmm(k.closes) for k in KINDS])[kinds],
            }
        ),
    )
    sinks.write(
        "people",
        pa.table(
            {
                "person_id": np.arange(1, pop.count + 1, dtype=np.int64),
                "age": pop.age.astype(np.int64),
                "sex": np.where(pop.female, "female", "male"),
                "district": names[pop.district],
                "home_lat": np.round(places.lat[pop.home], 6),
                "home_lon": np.round(places.lon[pop.home], 6),
                "household_id": pop.household + 1,
            }
        ),
    )
    sinks.write(
        "truth/places",
        pa.table(
            {
                "place_id": places.place_id,
                "kind": kind_names[places.kind],
                "lat": places.lat,
                "lon": places.lon,
                "district": names[places.district],
                "indoor": np.array([k.indoor for k in KINDS])[places.kind],
            }
        ),
    )


def _write_day(
    sinks: _Sinks,
    day_start: int,
    stays: DayStays,
    places: Places,
    pop: Population,
    towers: object,
    place_towers: NDArray[np.int64],
    rng: np.random.Generator,
) -> None:
    proj = projection()
    sinks.write(
        "truth/stays",
        pa.table(
            {
                "person_id": stays.person + 1,
                "place_id": stays.place + 1,
                "start": _ts(day_start, stays.start),
                "end": _ts(day_start, stays.end),
            }
        ),
    )
    bounds = np.searchsorted(stays.person, np.arange(0, pop.count + PERSON_BLOCK, PERSON_BLOCK))
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        block = DayStays(
            stays.person[lo:hi], stays.place[lo:hi], stays.start[lo:hi], stays.end[lo:hi]
        )
        g = gps_records(block, places, pop, rng)
        if len(g.person):
            lat, lon = proj.to_latlon(g.columns["x"], g.columns["y"])
            sinks.write(
                "gps",
                pa.table(
                    {
                        "person_id": g.person + 1,
                        "ts": _ts(day_start, g.t),
                        "lat": np.round(lat, 6),
                        "lon": np.round(lon, 6),
                        "accuracy_m": g.columns["accuracy_m"].astype(np.float64),
                    }
                ),
            )
        c = cell_records(block, places, towers, place_towers, pop, rng)  # type: ignore[arg-type]
        _write_records(sinks, "cell", c, day_start)
        _write_records(sinks, "card", card_records(block, places, pop, rng), day_start)
        _write_records(sinks, "entries", entry_records(block, places, rng), day_start)


def _write_records(sinks: _Sinks, name: str, rec: Records, day_start: int) -> None:
    if len(rec.person) == 0:
        return
    order = np.argsort(rec.person * (4 * DAY) + rec.t, kind="stable")
    cols: dict[str, pa.Array | NDArray[np.generic]] = {
        "person_id": rec.person[order] + 1,
        "ts": _ts(day_start, rec.t[order]),
    }
    for key, values in rec.columns.items():
        cols[key] = values[order]
    sinks.write(name, pa.table(cols))


def _write_outbreak(
    sinks: _Sinks, ob: Outbreak, pop: Population, places: Places, cfg: CityConfig, start_utc: int
) -> tuple[int, int, dict[str, int]]:
    names = np.array([d.name for d in seoul_districts()])
    kind_names = np.array([k.name for k in KINDS])
    who = np.flatnonzero(~np.isnan(ob.infected_at))
    day0 = np.datetime64(cfg.start.isoformat(), "D")

    def dates(day_index: NDArray[np.integer]) -> pa.Array:
        valid = day_index < NEVER
        values = (day0 + np.where(valid, day_index, 0).astype("timedelta64[D]")).astype(
            "datetime64[D]"
        )
        return pa.array(values, type=pa.date32(), mask=~valid)

    onset_day = np.where(
        np.isnan(ob.onset[who]), NEVER, np.floor(np.nan_to_num(ob.onset[who]) / DAY)
    ).astype(np.int64)
    setting = np.where(
        ob.place[who] >= 0, kind_names[places.kind[np.maximum(ob.place[who], 0)]], "seed"
    )
    sinks.write(
        "truth/infections",
        pa.table(
            {
                "person_id": who + 1,
                "infected_at": _ts(start_utc, np.round(ob.infected_at[who])),
                "infector_id": pa.array(ob.infector[who] + 1, mask=ob.infector[who] < 0),
                "place_id": pa.array(ob.place[who] + 1, mask=ob.place[who] < 0),
                "setting": setting,
                "asymptomatic": ob.asymptomatic[who],
                "symptom_onset": dates(onset_day),
                "test_date": dates(ob.test_day[who].astype(np.int64)),
                "confirmed_date": dates(ob.confirmed_day[who].astype(np.int64)),
            }
        ),
    )
    confirmed = who[ob.confirmed_day[who] < cfg.days]
    onset_c = np.where(
        np.isnan(ob.onset[confirmed]), NEVER, np.floor(np.nan_to_num(ob.onset[confirmed]) / DAY)
    ).astype(np.int64)
    infected_by, cluster = _investigated(ob, places, confirmed, names, kind_names)
    # What the health department knows: only cases confirmed by the end of the run.
    sinks.write(
        "cases",
        pa.table(
            {
                "person_id": pa.array(confirmed + 1, pa.int64()),
                "symptom_onset": dates(onset_c),
                "test_date": dates(ob.test_day[confirmed].astype(np.int64)),
                "confirmed_date": dates(ob.confirmed_day[confirmed].astype(np.int64)),
                "state": pa.array(np.full(len(confirmed), "isolated"), pa.string()),
                "district": pa.array(names[pop.district[confirmed]], pa.string()),
                "infected_by": infected_by,
                "cluster": cluster,
            }
        ),
    )
    by_setting = dict(zip(*np.unique(setting, return_counts=True), strict=False))
    return len(who), len(confirmed), {str(k): int(v) for k, v in by_setting.items()}


CLUSTER_MIN_CASES = 3  # confirmed cases infected at one place (not a home) make a cluster


def _investigated(
    ob: Outbreak,
    places: Places,
    confirmed: NDArray[np.int64],
    district_names: NDArray[np.str_],
    kind_names: NDArray[np.str_],
) -> tuple[pa.Array, pa.Array]:
    """What investigators found for each confirmed case: its source, when that person was
    confirmed no later than the case (Korea linked most cases so in 2020), and its cluster,
    the place where it was infected when at least `CLUSTER_MIN_CASES` confirmed cases were."""
    source = ob.infector[confirmed]
    source_confirmed = ob.confirmed_day[np.maximum(source, 0)]
    known = (source >= 0) & (source_confirmed <= ob.confirmed_day[confirmed])
    infected_by = pa.array(source + 1, pa.int64(), mask=~known)
    if not len(confirmed):
        return infected_by, pa.array([], pa.string())
    place = ob.place[confirmed]
    kind = kind_names[places.kind[np.maximum(place, 0)]]
    eligible = (place >= 0) & (kind != "home")
    ids, counts = np.unique(place[eligible], return_counts=True)
    big = set(ids[counts >= CLUSTER_MIN_CASES].tolist())
    in_cluster = eligible & np.isin(place, list(big))
    label = np.char.title(np.char.replace(kind, "_", " "))
    short = np.char.replace(district_names[places.district[np.maximum(place, 0)]], "-gu", "")
    name = np.char.add(np.char.add(np.char.add(short, " "), label), " ")
    name = np.char.add(name, (place + 1).astype(str))
    return infected_by, pa.array(name, pa.string(), mask=~in_cluster)


def generate_city(
    out: Path, config: CityConfig, progress: Callable[[str, int, int], None] | None = None
) -> GenerationReport:
    """Generate a city into `out` (created; existing table files are replaced)."""
    config.validate()
    t0 = time.perf_counter()
    report = GenerationReport(config)
    rng = np.random.default_rng(config.seed)
    tick = progress or (lambda _d, _i, _n: None)
    tick("building the city", 0, config.days)

    pop, places = build_population(config.people, rng)
    towers = build_towers(places, rng)
    _, place_towers = towers.tree.query(np.column_stack([places.x, places.y]), k=3)
    stations = places.of_kind("subway_station")
    _, nearest_station = cKDTree(np.column_stack([places.x[stations], places.y[stations]])).query(
        np.column_stack([places.x, places.y])
    )
    travel = Travel(places, stations[nearest_station])
    outbreak = Outbreak.start(pop.count, config.initial_infections, config.transmission, rng)
    carry = CarryOver(pop.home.copy(), np.zeros(pop.count, dtype=np.int64))

    tz = ZoneInfo(config.timezone)
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.parquet"), *out.glob("*.csv"), *out.glob("truth/*")]:
        old.unlink()
    start_utc = int(
        datetime(config.start.year, config.start.month, config.start.day, tzinfo=tz).timestamp()
    )
    with _Sinks(out, config.format, config.timezone) as sinks:
        _reference_tables(pop, places, towers.lat, towers.lon, towers.range_m, sinks)
        for d in range(config.days):
            tick("simulating days", d, config.days)
            day = config.start + timedelta(days=d)
            day_start = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
            stay_home, test_today = outbreak.day_status(d)
            stays, carry = day_stays(pop, travel, carry, day.weekday(), stay_home, test_today, rng)
            outbreak.transmit(d, stays, places, rng)
            _write_day(sinks, day_start, stays, places, pop, towers, place_towers, rng)
        report.infections, report.cases, report.infections_by_setting = _write_outbreak(
            sinks, outbreak, pop, places, config, start_utc
        )
        tick("simulating days", config.days, config.days)
    report.rows = sinks.rows()
    report.places_by_kind = {k.name: int((places.kind == kind_code(k.name)).sum()) for k in KINDS}
    report.towers = len(towers.lat)
    report.seconds = time.perf_counter() - t0
    meta = {
        "generator": "epicity.city",
        "config": {**asdict(config), "start": config.start.isoformat()},
        "rows": report.rows,
        "places_by_kind": report.places_by_kind,
        "towers": report.towers,
        "infections": report.infections,
        "cases": report.cases,
        "infections_by_setting": report.infections_by_setting,
    }
    (out / "city.json").write_text(json.dumps(meta, indent=2) + "\n")
    return report
