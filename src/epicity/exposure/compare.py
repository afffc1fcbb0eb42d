"""Exposure notification and location-based tracing, compared on the synthetic city's truth.

Entry point (stable; ``bench/exposure.py --compare`` calls it)::

    from epicity.exposure.compare import compare_on_city
    report = compare_on_city(people=50_000, days=14, seed=1, adoption=0.3)
    report.table()            # list of row dicts: one per method x definition of truth
    report.sensitivity_table()  # list of row dicts: one per adoption share
    report.markdown()         # the tables, definitions and parameters as Markdown
    report.plot(path)         # PNG: recall/precision vs adoption, time to warning

    compare_on_city(*, people=50_000, days=14, seed=1, introductions=None, adoption=0.3,
                    upload_share=0.6,
                    sensitivity=(0.2, 0.4, 0.6), city=None, store=None, workdir=None,
                    radio=None, delays=None, risk=None, progress=None) -> ComparisonReport

Command line: ``python -m epicity.exposure.compare --people 50000 --days 14 --seed 1
--plot docs/exposure/comparison.png --markdown out.md``.

What runs, on one generated city (`generate_city` -> `ingest_directory`):

Ground truth (`simulate`): positions of everyone within each place over time, from the seed.
- **close contact (2 m)**: within 2 m of a confirmed case for 15 minutes or more in total in
  one local day, inside the case's infectious window (2 days before onset, or before the test
  when asymptomatic, to the end of the confirmation day: `tracing.service.infectious_window`).
  This is the epidemiological definition (WHO, KDCA 2020); neither method observes it.
- **same place**: bench/accuracy.py's definition, a true stay at the same indoor place as the
  case, overlapping it 15 minutes or more in total, inside the window.
Both are sets of people (a person close to two cases counts once).

Location-based tracing: the product's pipeline. Every confirmed case is investigated through
the audited access layer (`privacy.access.LocationAccess`, investigator role, an emergency
declared in a scratch database), each day's new cases together (`investigate_many`); warned =
the close-tier contacts found. Time to warning = result -> registration -> the investigation's
measured compute time -> the investigator's review -> the health officer's approval -> SMS
delivery (`Delays`).

Exposure notification: a share `adoption` of people carry a phone running the reference
client (`client.Phone`). Phones of confirmed cases broadcast RPIs; every scan in which another
phone caught a case's beacon (`simulate.scans`, path loss + noise) is recorded by that phone
(`Phone.observe_many`, the scan's minimum attenuation, as CWA weighs). A confirmed case with
the app shares its keys with probability `upload_share` some hours after the result
(`Phone.diagnosis_keys`); uploads are batched into hourly signed exports (`keyfile`:
export.bin + export.sig, ECDSA P-256, zipped), each file verified and decoded once (every
phone gets the same bytes); each phone downloads every `download_period_h` hours and runs
`Phone.check` (match, exposure windows, CWA risk): HIGH = warned, at that download.
Only beacons of confirmed cases are simulated: no other key is ever published, so other
sightings could not match. A phone is checked only at downloads that bring keys of someone it
heard at an attenuation the risk calculation weighs, and is handed only those keys (others
cannot match); checks without them cannot raise its risk. `check_all` turns both shortcuts
off; a test shows they change nothing on a small city.

Metrics per method and definition: people warned, true positives (warned and truly close),
precision, recall among everyone; for exposure notification also the recall among true close
contacts who have the app and the *reachable* share (true close contacts with the app who were
close to a case with the app: about adoption²); and the time from the case's positive result to
the warning (median and 90th percentile over the people warned).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
from numpy.typing import NDArray

from epicity.exposure import crypto
from epicity.exposure.client import METADATA_VERSION, Phone
from epicity.exposure.keyfile import (
    KeyExport,
    SignatureInfo,
    decode_export,
    encode_export,
    read_zip,
    sign_export,
    verify_export,
    write_zip,
)
from epicity.exposure.matching import KeyBatch
from epicity.exposure.risk import RiskConfiguration, RiskLevel
from epicity.exposure.simulate import (
    DAY,
    RadioModel,
    Scans,
    Stays,
    _hash,
    _uniform,
    adopters,
    close_seconds,
    encounters,
    place_layout,
    scans,
    shared_seconds,
)

__all__ = [
    "ComparisonReport",
    "Delays",
    "MethodScore",
    "compare_on_city",
    "main",
]

PURPOSE = "comparison: contact tracing of confirmed cases against the synthetic ground truth"
REGION = "SEOUL"
CLOSE_S = 15 * 60  # 15 minutes (WHO and KDCA close-contact definitions, 2020)
HOUR = 3600
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Delays:
    """How long each step between a positive result and a warning takes (assumptions).

    Location-based tracing (Seoul 2020: most contacts were told within a day of the result):
        registration_h: the lab result reaches the health centre and the case is opened.
        review_median_h, review_sigma: the investigator checks the timeline with the case
            (interview) and confirms the contacts (lognormal).
        approval_median_h, approval_sigma: a health officer approves the warnings (lognormal).
        delivery_s: the outbox sends the SMS.
    The investigation's own compute time, measured in the run, is added per case.

    Exposure notification (Corona-Warn-App):
        upload_median_h, upload_sigma: from the result (with its verification code) to the
            user sharing the keys (lognormal; many share within hours, some a day later).
        export_period_h: the key server publishes a batch every hour (CWA's hourly packages).
        export_lag_s: signing and CDN propagation of a batch.
        download_period_h: a phone downloads and checks every 4 hours (CWA Android from 1.9,
            cwa-app-android PR #1616; iOS similar), at a phase of its own.
    """

    registration_h: float = 1.0
    review_median_h: float = 3.0
    review_sigma: float = 0.7
    approval_median_h: float = 1.0
    approval_sigma: float = 0.8
    delivery_s: float = 120.0
    upload_median_h: float = 3.0
    upload_sigma: float = 1.2
    export_period_h: float = 1.0
    export_lag_s: float = 600.0
    download_period_h: float = 4.0

    def validate(self) -> None:
        """Raise ValueError naming the field when a value is unusable."""
        for name, value in asdict(self).items():
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be a non-negative number, got {value}")
        for name in ("export_period_h", "download_period_h"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")


@dataclass
class MethodScore:
    """One method scored against one definition of true close contacts."""

    method: str
    truth: str
    warned: int
    true_close: int
    tp: int
    true_close_app: int | None = None  # true close contacts who have the app
    tp_app: int | None = None
    # True close contacts with the app who were close to a case with the app: the pairs a phone
    # could detect (a share of about adoption² of all).
    reachable: int | None = None
    delay_h: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    @property
    def fp(self) -> int:
        """Warned but not truly close."""
        return self.warned - self.tp

    @property
    def fn(self) -> int:
        """Truly close but not warned."""
        return self.true_close - self.tp

    @property
    def precision(self) -> float:
        """tp / warned (NaN when nobody was warned)."""
        return self.tp / self.warned if self.warned else float("nan")

    @property
    def recall(self) -> float:
        """tp / true close contacts (NaN when there are none)."""
        return self.tp / self.true_close if self.true_close else float("nan")

    @property
    def recall_app(self) -> float | None:
        """Recall among true close contacts who have the app."""
        if self.true_close_app is None or self.tp_app is None:
            return None
        return self.tp_app / self.true_close_app if self.true_close_app else float("nan")

    def delay_quantile(self, q: float) -> float:
        """Quantile of the time from positive result to warning, hours (NaN: nobody warned)."""
        return float(np.quantile(self.delay_h, q)) if len(self.delay_h) else float("nan")


@dataclass
class _EnRun:
    """What one exposure-notification run produced (one adoption share)."""

    adoption: float
    phones: int
    case_phones: int
    uploaders: int
    keys_uploaded: int
    export_files: int
    export_bytes: int
    observations: int
    phones_checked: int
    warned_at: dict[int, int]  # person -> warning time (epoch s)
    delay_h: dict[int, float]  # person -> hours from the triggering case's result
    has_phone: NDArray[np.bool_]
    seconds: float


@dataclass
class ComparisonReport:
    """The comparison's figures; `table`, `sensitivity_table`, `markdown` and `plot` show them."""

    config: dict[str, Any]
    scores: list[MethodScore]
    sensitivity: list[dict[str, Any]]
    personal_data: list[tuple[str, str, str]]
    timings: dict[str, float]
    counts: dict[str, int]

    def table(self) -> list[dict[str, Any]]:
        """One row per method and definition of truth (default adoption)."""
        rows = []
        for s in self.scores:
            rows.append(
                {
                    "method": s.method,
                    "truth": s.truth,
                    "warned": s.warned,
                    "true close": s.true_close,
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                    "precision": s.precision,
                    "recall": s.recall,
                    "recall (app users)": s.recall_app,
                    "median delay h": s.delay_quantile(0.5),
                    "p90 delay h": s.delay_quantile(0.9),
                }
            )
        return rows

    def sensitivity_table(self) -> list[dict[str, Any]]:
        """One row per adoption share (exposure notification; location tracing for reference)."""
        return list(self.sensitivity)

    def markdown(self) -> str:
        """The tables as Markdown (what docs/exposure/comparison.md shows)."""
        out = ["| method | truth | warned | true close | TP | FP | precision | recall | "
               "recall (app users) | median h | p90 h |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in self.table():
            app = r["recall (app users)"]
            out.append(
                f"| {r['method']} | {r['truth']} | {r['warned']:,} | {r['true close']:,} | "
                f"{r['tp']:,} | {r['fp']:,} | {_f(r['precision'])} | {_f(r['recall'])} | "
                f"{'-' if app is None else _f(app)} | {_f(r['median delay h'], 1)} | "
                f"{_f(r['p90 delay h'], 1)} |"
            )
        out += ["", "| adoption | phones | uploaders | EN warned | EN precision (2 m) | "
                "EN recall (2 m) | reachable (both with app) | adoption² | "
                "EN recall, app users | EN median h | EN p90 h | location recall (2 m) |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in self.sensitivity:
            out.append(
                f"| {r['adoption']:.2f} | {r['phones']:,} | {r['uploaders']} | {r['warned']:,} | "
                f"{_f(r['precision'])} | {_f(r['recall'])} | {_f(r['reachable share'])} | "
                f"{r['adoption'] ** 2:.3f} | {_f(r['recall (app users)'])} | "
                f"{_f(r['median delay h'], 1)} | {_f(r['p90 delay h'], 1)} | "
                f"{_f(r['location recall'])} |"
            )
        out += ["", "| personal data | location-based tracing | exposure notification |",
                "|---|---|---|"]  # fmt: skip
        out += [f"| {a} | {b} | {c} |" for a, b, c in self.personal_data]
        return "\n".join(out) + "\n"

    def plot(self, path: Path | str) -> Path:
        """Write a PNG: recall and precision against adoption (both methods, 2 m truth), and the
        distribution of the time from positive result to warning at the default adoption."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        sens = sorted(self.sensitivity, key=lambda r: r["adoption"])
        a = [r["adoption"] for r in sens]
        ax1.plot(a, [r["recall"] for r in sens], "o-", color="C0", label="EN recall")
        ax1.plot(a, [r["recall (app users)"] for r in sens], "o--", color="C0", alpha=0.6,
                 label="EN recall, app users")  # fmt: skip
        ax1.plot(a, [r["precision"] for r in sens], "s-", color="C1", label="EN precision")
        loc = next(s for s in self.scores if s.method == "location" and s.truth == "2 m")
        ax1.axhline(loc.recall, color="C2", label="location recall")
        ax1.axhline(loc.precision, color="C3", linestyle="--", label="location precision")
        ax1.plot(a, [r["reachable share"] for r in sens], ":", color="grey", marker=".",
                 label="reachable: both have the app")  # fmt: skip
        ax1.set_xlabel("app adoption (share of people)")
        ax1.set_ylabel("share (true close contact: ≤ 2 m for ≥ 15 min)")
        ax1.set_ylim(0, 1)
        ax1.set_title("Recall and precision")
        ax1.legend(fontsize=8, loc="upper left")
        en = next(
            s for s in self.scores if s.method == "exposure notification" and s.truth == "2 m"
        )
        for score, color, name in ((loc, "C2", "location"), (en, "C0", "exposure notification")):
            d = np.sort(score.delay_h)
            if len(d):
                ax2.step(d, np.arange(1, len(d) + 1) / len(d), where="post", color=color,
                         label=f"{name} (n={len(d)})")  # fmt: skip
        ax2.set_xlabel("hours from the case's positive result to the warning")
        ax2.set_ylabel("share of people warned")
        ax2.set_ylim(0, 1)
        ax2.set_xlim(left=0)
        ax2.set_title(f"Time to warning (adoption {self.config['adoption']:.0%})")
        if len(loc.delay_h) or len(en.delay_h):
            ax2.legend(fontsize=8, loc="lower right")
        c = self.config
        fig.suptitle(
            f"Synthetic Seoul, {c['people']:,} people x {c['days']} days, seed {c['seed']}: "
            f"{self.counts['cases']} confirmed cases",
            fontsize=10,
        )
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _f(x: float | None, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


# --------------------------------------------------------------------------- the city


@dataclass
class _Case:
    person: int
    onset: date | None
    test: date | None
    confirmed: date
    window: tuple[int, int]
    result_at: int  # epoch s of the positive result


@dataclass
class _City:
    path: Path
    people: int
    stays: Stays
    kind: NDArray[np.str_]  # by place id
    indoor: NDArray[np.bool_]  # by place id
    cases: list[_Case]
    tz: ZoneInfo
    start: int  # epoch s of the first local midnight
    end: int  # epoch s of the end of the last day


def _load_city(city: Path) -> _City:
    """The ground truth and the cases, read outside the product's access path (for scoring)."""
    import json

    from epicity.city.outbreak import RESULT_NEXT_DAY_S, RESULT_SAME_DAY_S
    from epicity.tracing.config import TracingConfig
    from epicity.tracing.service import CaseInfo, infectious_window

    meta = json.loads((city / "city.json").read_text())
    cfg = meta["config"]
    tz = ZoneInfo(cfg["timezone"])
    first = date.fromisoformat(cfg["start"])
    start = int(datetime(first.year, first.month, first.day, tzinfo=tz).timestamp())
    last = first + timedelta(days=int(cfg["days"]))
    end = int(datetime(last.year, last.month, last.day, tzinfo=tz).timestamp())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    st = con.execute(
        f'SELECT person_id, place_id, epoch(start)::BIGINT AS s, epoch("end")::BIGINT AS e '
        f"FROM '{city}/truth/stays.parquet'"
    ).fetchnumpy()
    pl = con.execute(
        f"SELECT place_id, kind, indoor FROM '{city}/truth/places.parquet' ORDER BY place_id"
    ).fetchnumpy()
    people = int(con.execute(f"SELECT count(*) FROM '{city}/people.parquet'").fetchone()[0])  # type: ignore[index]
    rows = con.execute(
        f"SELECT person_id, symptom_onset, test_date, confirmed_date FROM '{city}/cases.parquet' "
        "ORDER BY person_id"
    ).fetchall()
    n_places = int(pl["place_id"].max()) + 1 if len(pl["place_id"]) else 1
    kind = np.full(n_places, "none", dtype=object)
    kind[pl["place_id"]] = pl["kind"]
    indoor = np.zeros(n_places, dtype=bool)
    indoor[pl["place_id"]] = pl["indoor"]
    config = TracingConfig()
    cases = []
    for person, onset, test, confirmed in rows:
        info = CaseInfo(int(person), onset, test, confirmed)
        w0, w1, _ = infectious_window(info, tz, config)
        midnight = int(
            datetime(confirmed.year, confirmed.month, confirmed.day, tzinfo=tz).timestamp()
        )
        # outbreak.py: a result the same day arrives mid-afternoon, a late sample's next morning.
        same_day = test is not None and test == confirmed
        result_at = midnight + (RESULT_SAME_DAY_S if same_day else RESULT_NEXT_DAY_S - DAY)
        cases.append(_Case(int(person), onset, test, confirmed, (w0, w1), int(result_at)))
    stays = Stays(
        st["person_id"].astype(np.int64),
        st["place_id"].astype(np.int64),
        st["s"].astype(np.int64),
        st["e"].astype(np.int64),
    )
    return _City(city, people, stays, kind.astype(str), indoor, cases, tz, start, end)


# --------------------------------------------------------------------------- location tracing


@contextlib.contextmanager
def _investigator_access(store: Any, workdir: Path) -> Iterator[Any]:
    """An investigator's access to the store, audited in a scratch database removed after."""
    from epicity.privacy.access import drill_access

    scratch = Path(tempfile.mkdtemp(prefix="access-", dir=workdir))
    try:
        with drill_access(
            store, scratch / "compare.db", actor="compare", emergency="comparison"
        ) as access:
            yield access
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class _LocationRun:
    found: dict[int, set[int]]  # case -> close contacts found
    compute_s: dict[int, float]  # the compute time of the case's day's batch
    batch_s: list[float]
    rows_read: int
    tables: list[str]
    cases: list[int]


def _trace_locations(store_path: Path, workdir: Path) -> _LocationRun:
    """Investigate every confirmed case in the store, as an investigator would: each day's
    newly confirmed cases together (`investigate_many`), each day through its own audited
    access. A case waits for its day's batch: the batch's compute time counts for each."""
    from epicity.records.store import LocationStore
    from epicity.tracing.config import TracingConfig
    from epicity.tracing.service import investigate_many

    config = TracingConfig()
    found: dict[int, set[int]] = {}
    compute: dict[int, float] = {}
    batches: list[float] = []
    rows = 0
    tables: dict[str, None] = {}
    with _investigator_access(LocationStore(store_path), workdir) as access:
        with access.open(PURPOSE) as reader:
            # A city without a confirmed case has no cases table.
            listed = (
                reader.query(
                    "SELECT person_id, confirmed_date FROM cases ORDER BY confirmed_date, person_id"
                ).to_pylist()
                if "cases" in reader.schema()
                else []
            )
            rows += reader.rows_returned
        by_day: dict[date, list[int]] = {}
        for r in listed:
            by_day.setdefault(r["confirmed_date"], []).append(int(r["person_id"]))
        for day in sorted(by_day):
            ids = by_day[day]
            with access.open(f"{PURPOSE}: cases confirmed on {day.isoformat()}") as reader:
                started = time.perf_counter()
                investigations = investigate_many(reader, ids, config=config)
                seconds = time.perf_counter() - started
                batches.append(seconds)
                rows += reader.rows_returned
                tables.update(dict.fromkeys(reader.tables))
            for inv in investigations:
                case_id = inv.case.person_id
                compute[case_id] = seconds
                found[case_id] = {c.contact_id for c in inv.contacts if c.tier == "close"}
    cases = [int(r["person_id"]) for r in listed]
    return _LocationRun(found, compute, batches, rows, list(tables), cases)


def _location_warnings(
    run: _LocationRun, cases: dict[int, _Case], delays: Delays, seed: int
) -> tuple[dict[int, int], dict[int, float]]:
    """Warning time of every contact found (the earliest over cases), and its delay (hours)."""
    warned_at: dict[int, int] = {}
    delay: dict[int, float] = {}
    for case_id in run.cases:
        rng = np.random.default_rng([seed, 71, case_id])
        steps = (
            delays.registration_h * HOUR
            + run.compute_s.get(case_id, 0.0)
            + rng.lognormal(np.log(delays.review_median_h * HOUR), delays.review_sigma)
            + rng.lognormal(np.log(delays.approval_median_h * HOUR), delays.approval_sigma)
            + delays.delivery_s
        )
        result_at = cases[case_id].result_at
        at = int(result_at + steps)
        for person in run.found.get(case_id, ()):
            if person not in warned_at or at < warned_at[person]:
                warned_at[person] = at
                delay[person] = (at - result_at) / HOUR
    return warned_at, delay


# --------------------------------------------------------------------------- exposure notification


def _tek_rng(seed: int, person: int) -> Callable[[int], bytes]:
    return random.Random(seed * 1_000_003 + person).randbytes


def broadcasts(
    phone_of: Callable[[int], Phone], source: NDArray[np.int64], at: NDArray[np.int64]
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(RPI, AEM) rows that the phones of `source` broadcast at times `at`: what
    `Phone.broadcast` gives, derived a key-day at a time (one HKDF pair and two AES-ECB calls
    per phone and day instead of two AES calls per row; the AEM's CTR keystream block is
    AES-ECB(AEMK, RPI))."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    n = len(at)
    rpi = np.empty((n, 16), np.uint8)
    aem = np.empty((n, 4), np.uint8)
    if not n:
        return rpi, aem
    interval = at // crypto.EN_INTERVAL_SECONDS
    day = interval // crypto.TEK_ROLLING_PERIOD
    order = np.lexsort((day, source))
    cut = np.flatnonzero((np.diff(source[order]) != 0) | (np.diff(day[order]) != 0)) + 1
    for rows in np.split(order, cut):
        p = phone_of(int(source[rows[0]]))
        tek, start = p.temporary_exposure_key(int(at[rows[0]]))
        ids = np.frombuffer(crypto.rpis(tek, start), np.uint8).reshape(-1, 16)
        stream = Cipher(algorithms.AES(crypto.aemk(tek)), modes.ECB()).encryptor()
        pad = np.frombuffer(stream.update(ids.tobytes()), np.uint8).reshape(-1, 16)[:, :4]
        metadata = np.array([METADATA_VERSION, p.tx_power_dbm & 0xFF, 0, 0], np.uint8)
        k = interval[rows] - start
        rpi[rows] = ids[k]
        aem[rows] = pad[k] ^ metadata
    return rpi, aem


def _exposure_notification(
    city: _City,
    seen: Scans,
    *,
    adoption: float,
    upload_share: float,
    delays: Delays,
    risk: RiskConfiguration,
    seed: int,
    check_all: bool = False,
) -> _EnRun:
    """Run the reference client on every phone that heard a confirmed case's phone."""
    from cryptography.hazmat.primitives.asymmetric import ec

    started = time.perf_counter()
    has_phone = adopters(city.people + 1, adoption, seed)
    has_phone[0] = False  # person ids start at 1
    cases = {c.person: c for c in city.cases}
    case_ids = np.array(sorted(cases), dtype=np.int64)
    case_phone = case_ids[has_phone[case_ids]]
    shares = _uniform(_hash(seed, 41, case_phone)) < upload_share
    uploaders = case_phone[shares]

    rows = has_phone[seen.observer] & has_phone[seen.source]
    obs = seen.select(rows)
    phones: dict[int, Phone] = {}

    def phone(person: int) -> Phone:
        p = phones.get(person)
        if p is None:
            p = phones[person] = Phone(rng=_tek_rng(seed, person), config=risk)
        return p

    # Each case phone's key for every day of the run (a real phone has one whether or not it
    # was heard), then what it broadcast at each moment it was heard.
    for person in case_phone.tolist():
        for t in range(city.start, city.end, DAY):
            phone(person).temporary_exposure_key(t)
    rpi, aem = broadcasts(phone, obs.source, obs.at)
    order = np.argsort(obs.observer, kind="stable")
    bounds = np.flatnonzero(np.diff(obs.observer[order])) + 1
    for part in np.split(order, bounds) if len(order) else []:
        part = part[np.argsort(obs.at[part], kind="stable")]
        phone(int(obs.observer[part[0]])).observe_many(
            rpi=rpi[part],
            aem=aem[part],
            at=obs.at[part],
            seconds=obs.seconds_since_last_scan[part].astype(np.int32),
            attenuation_db=obs.minimum_db[part],
        )

    # Uploads, batched into hourly signed exports.
    private_key = ec.generate_private_key(ec.SECP256R1())
    info = SignatureInfo(verification_key_version="v1", verification_key_id="450")
    public_keys = {("450", "v1"): private_key.public_key()}
    period = int(delays.export_period_h * HOUR)
    uploads: dict[int, list[tuple[int, list[Any]]]] = {}  # batch start -> [(case, keys)]
    keys_uploaded = 0
    for person in uploaders.tolist():
        c = cases[person]
        rng = np.random.default_rng([seed, 43, person])
        at = int(
            c.result_at + rng.lognormal(np.log(delays.upload_median_h * HOUR), delays.upload_sigma)
        )
        keys = phone(person).diagnosis_keys(at, symptom_onset=c.onset)
        keys_uploaded += len(keys)
        uploads.setdefault(at // period * period, []).append((person, keys))
    exports: list[tuple[int, bytes, set[int]]] = []  # (published at, zip, uploaders in it)
    for batch_start in sorted(uploads):
        batch = uploads[batch_start]
        export = KeyExport(
            start_timestamp=batch_start,
            end_timestamp=batch_start + period,
            region=REGION,
            batch_num=1,
            batch_size=1,
            signature_infos=(info,),
            keys=tuple(k for _, ks in batch for k in ks),
        )
        export_bin = encode_export(export)
        export_sig = sign_export(export_bin, private_key, info, 1, 1)
        published = int(batch_start + period + delays.export_lag_s)
        exports.append((published, write_zip(export_bin, export_sig), {p for p, _ in batch}))
    # Every phone downloads the same files: each is verified and decoded once here, with the
    # checks `Phone.download` makes, and its keys handed to the phones that check.
    files: list[KeyBatch] = []
    owner = {k.key_data: p for ks in uploads.values() for p, keys in ks for k in keys}
    keys_of: dict[int, list[Any]] = {}  # uploader -> its keys as decoded from the file
    for _, data, _ in exports:
        export_bin, export_sig = read_zip(data)
        verify_export(export_bin, export_sig, public_keys)
        decoded = decode_export(export_bin).keys
        files.append(KeyBatch.from_keys(decoded))
        for k in decoded:
            keys_of.setdefault(owner[k.key_data], []).append(k)
    batch_of = {p: KeyBatch.from_keys(ks) for p, ks in keys_of.items()}

    # Each phone downloads every few hours. It is checked at the downloads that bring keys of
    # someone it heard at an attenuation the risk calculation gives weight to: other checks
    # cannot raise its risk (`check_all` checks every phone that heard anyone).
    weighted = [
        w.attenuation_range.max for w in risk.minutes_at_attenuation_weights if w.weight > 0
    ]
    bound = max(weighted, default=-1.0)
    audible = np.ones(len(obs), bool) if check_all else obs.minimum_db <= bound
    heard: dict[int, set[int]] = {}
    for o, s in zip(obs.observer[audible].tolist(), obs.source[audible].tolist(), strict=True):
        heard.setdefault(o, set()).add(s)
    dl = int(delays.download_period_h * HOUR)
    warned_at: dict[int, int] = {}
    delay: dict[int, float] = {}
    checked = 0
    for person, sources in heard.items():
        relevant = (
            list(range(len(exports)))
            if check_all
            else [j for j, (_, _, who) in enumerate(exports) if who & sources]
        )
        if not relevant:
            continue
        checked += 1
        phase = int(_uniform(_hash(seed, 42, np.array([person])))[0] * dl)
        done = 0  # exports handed to the phone so far
        for j in relevant:
            published = exports[j][0]
            at = published + (phase - published) % dl  # the first download after publication
            # Everything published up to that download comes in it.
            upto = max(k + 1 for k, e in enumerate(exports) if e[0] <= at)
            if upto <= done:
                continue  # already handed over at an earlier check
            arrived = set().union(*(e[2] for e in exports[done:upto])) & sources
            # The phone gets the new files' keys; those of people it never heard cannot match
            # (their RPIs are not among its observations), so only the others are handed over
            # unless `check_all`.
            new = (
                KeyBatch.concat(files[done:upto])
                if check_all
                else KeyBatch.concat([batch_of[s] for s in sorted(arrived) if s in batch_of])
            )
            result = phone(person).check(keys=new, now=at, config=risk)
            done = upto
            if result.level == RiskLevel.HIGH:
                # From the earliest result among the heard cases whose keys just arrived.
                warned_at[person] = at
                trigger = arrived or sources  # (arrived is never empty when keys matched)
                delay[person] = (at - min(cases[s].result_at for s in trigger)) / HOUR
                break
    return _EnRun(
        adoption=adoption,
        phones=int(has_phone.sum()),
        case_phones=len(case_phone),
        uploaders=len(uploaders),
        keys_uploaded=keys_uploaded,
        export_files=len(exports),
        export_bytes=sum(len(e[1]) for e in exports),
        observations=len(obs),
        phones_checked=checked,
        warned_at=warned_at,
        delay_h=delay,
        has_phone=has_phone,
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- scoring


def _score(
    method: str,
    truth_name: str,
    warned: dict[int, int],
    delays_h: dict[int, float],
    truth: set[int],
    app: tuple[NDArray[np.bool_], tuple[NDArray[np.int64], NDArray[np.int64]]] | None = None,
) -> MethodScore:
    """Score warnings against a truth; `app` = (who has the app, the true close pairs) adds the
    app users' figures."""
    w = set(warned)
    tp = len(w & truth)
    app_truth: set[int] | None = None
    reachable: set[int] | None = None
    if app is not None:
        has_phone, (src, oth) = app
        app_truth = {p for p in truth if has_phone[p]}
        both = has_phone[src] & has_phone[oth]
        reachable = set(oth[both].tolist())
    return MethodScore(
        method=method,
        truth=truth_name,
        warned=len(w),
        true_close=len(truth),
        tp=tp,
        true_close_app=None if app_truth is None else len(app_truth),
        tp_app=None if app_truth is None else len(w & app_truth),
        reachable=None if reachable is None else len(reachable),
        delay_h=np.array(sorted(delays_h.values()), dtype=np.float64),
    )


def _truth_sets(
    city: _City, enc: Any
) -> tuple[dict[str, set[int]], dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]]:
    """The true close contacts under both definitions (people), and the (case, contact) pairs."""
    windows = {c.person: c.window for c in city.cases}
    offset = int(city.tz.utcoffset(datetime.fromtimestamp(city.start, UTC)).total_seconds())  # type: ignore[union-attr]
    src, oth, _, sec = close_seconds(enc, within_m=2.0, utc_offset_s=offset, windows=windows)
    close = sec >= CLOSE_S
    s2, o2, _, sec2 = shared_seconds(enc, city.indoor, windows)
    same = sec2 >= CLOSE_S
    people = {"2 m": set(oth[close].tolist()), "same place": set(o2[same].tolist())}
    pairs = {"2 m": (src[close], oth[close]), "same place": (s2[same], o2[same])}
    return people, pairs


# --------------------------------------------------------------------------- the entry point


def compare_on_city(
    *,
    people: int = 50_000,
    days: int = 14,
    seed: int = 1,
    introductions: int | None = None,
    adoption: float = 0.3,
    upload_share: float = 0.6,
    sensitivity: Sequence[float] = (0.2, 0.4, 0.6),
    city: Path | None = None,
    store: Path | None = None,
    workdir: Path | None = None,
    radio: RadioModel | None = None,
    delays: Delays | None = None,
    risk: RiskConfiguration | None = None,
    progress: Progress | None = None,
) -> ComparisonReport:
    """Generate a city (or use `city` with its location `store`), run both methods on it and
    score them against the same ground truth.

    Args:
        people, days, seed: the synthetic city (`CityConfig`); ignored when `city` is given
            (its own city.json applies), except `seed`, which also drives the simulation.
        introductions: people infected before the first day (`CityConfig.seed_infections`);
            default one per 1,000 people, so that a 14-day run has enough confirmed cases
            (about 120 at 50,000 people) to score exposure notification on.
        adoption: share of people with the app (the main table).
        upload_share: share of app users who share their keys after a positive test (CWA
            reported about 60%).
        sensitivity: further adoption shares for the sensitivity table (the default one is
            always included).
        city, store: an existing generated city directory and its ingested location store.
        workdir: where to generate, ingest and keep the scratch database (a temporary
            directory, removed afterwards, by default).
        radio, delays, risk: the Bluetooth model, the pipeline delays and the CWA risk
            configuration (defaults: `RadioModel()`, `Delays()`, `RiskConfiguration.cwa_default()`).
        progress: called with a short message at each stage.

    Returns:
        The report (see the module docstring for what each figure means).
    """
    from epicity.city.generate import CityConfig, generate_city
    from epicity.records.ingest import ingest_directory

    for name, share in [("adoption", adoption), ("upload_share", upload_share)] + [
        (f"sensitivity[{i}]", a) for i, a in enumerate(sensitivity)
    ]:
        if not 0 <= share <= 1:
            raise ValueError(f"{name}: must be a share between 0 and 1, got {share}")
    if (city is None) != (store is None):
        raise ValueError("city: give both city and store, or neither")
    radio = radio or RadioModel()
    radio.validate()
    delays = delays or Delays()
    delays.validate()
    risk = risk or RiskConfiguration.cwa_default()
    say = progress or (lambda _m: None)
    timings: dict[str, float] = {}
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="epicity-compare-")) if workdir is None else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        if city is None or store is None:
            t0 = time.perf_counter()
            say(f"generating a city of {people:,} people x {days} days")
            city, store = work / "city", work / "store"
            seeds = max(1, people // 1_000) if introductions is None else introductions
            generate_city(
                city, CityConfig(people=people, days=days, seed=seed, seed_infections=seeds)
            )
            timings["generate"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            say("ingesting its records")
            if store.exists():
                shutil.rmtree(store)
            ingest_directory(city, store)
            timings["ingest"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        town = _load_city(Path(city))
        cases = {c.person: c for c in town.cases}
        case_ids = np.array(sorted(cases), dtype=np.int64)
        say(f"simulating proximity around {len(case_ids)} confirmed cases")
        # Floor areas from the peak occupancy of the places the cases visited.
        visited = np.isin(
            town.stays.place, np.unique(town.stays.place[np.isin(town.stays.person, case_ids)])
        )
        sub = Stays(*(getattr(town.stays, f)[visited] for f in ("person", "place", "start", "end")))
        layout = place_layout(sub, town.kind)
        enc = encounters(sub, case_ids, layout, seed=seed, slot_s=radio.slot_s)
        top = max([adoption, *sensitivity])
        maybe = adopters(town.people + 1, top, seed)
        # Scans only where both could have a phone at the largest adoption (shares are nested).
        enc_phones = enc.select(maybe[enc.source] & maybe[enc.other])
        seen = scans(enc_phones, radio, seed=seed)
        truth, pairs = _truth_sets(town, enc)
        timings["simulate"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        say(f"tracing {len(case_ids)} cases through the access layer")
        loc = _trace_locations(Path(store), work)
        loc_at, loc_delay = _location_warnings(loc, cases, delays, seed)
        timings["location tracing"] = time.perf_counter() - t0
        timings["location compute (investigations)"] = sum(loc.batch_s)

        runs: dict[float, _EnRun] = {}
        for a in sorted({adoption, *sensitivity}):
            say(f"exposure notification at adoption {a:.0%}")
            runs[a] = _exposure_notification(
                town, seen, adoption=a, upload_share=upload_share, delays=delays, risk=risk,
                seed=seed,
            )  # fmt: skip
            timings[f"exposure notification {a:.0%}"] = runs[a].seconds
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)

    main_run = runs[adoption]
    scores = []
    for name in ("2 m", "same place"):
        scores.append(_score("location", name, loc_at, loc_delay, truth[name]))
        scores.append(
            _score(
                "exposure notification", name, main_run.warned_at, main_run.delay_h, truth[name],
                (main_run.has_phone, pairs[name]),
            )
        )  # fmt: skip
    loc2 = scores[0]
    sens = []
    for a, run in sorted(runs.items()):
        s = _score("exposure notification", "2 m", run.warned_at, run.delay_h, truth["2 m"],
                   (run.has_phone, pairs["2 m"]))  # fmt: skip
        sens.append(
            {
                "adoption": a,
                "phones": run.phones,
                "case phones": run.case_phones,
                "uploaders": run.uploaders,
                "warned": s.warned,
                "tp": s.tp,
                "precision": s.precision,
                "recall": s.recall,
                "recall (app users)": s.recall_app,
                "reachable share": (s.reachable or 0) / s.true_close if s.true_close else 0.0,
                "median delay h": s.delay_quantile(0.5),
                "p90 delay h": s.delay_quantile(0.9),
                "location recall": loc2.recall,
                "location precision": loc2.precision,
            }
        )
    counts = {
        "people": town.people,
        "cases": len(case_ids),
        "encounter rows": len(enc),
        "scans (both could have a phone)": len(seen),
        "observations recorded": main_run.observations,
        "phones checked": main_run.phones_checked,
        "uploaders": main_run.uploaders,
        "keys uploaded": main_run.keys_uploaded,
        "export files": main_run.export_files,
        "export bytes": main_run.export_bytes,
        "location rows read": loc.rows_read,
    }
    personal = _personal_data(loc, main_run, len(case_ids))
    config = {
        "people": town.people,
        "days": int((town.end - town.start) // DAY),
        "seed": seed,
        "introductions": introductions,
        "adoption": adoption,
        "upload_share": upload_share,
        "radio": asdict(radio),
        "delays": asdict(delays),
        "city": str(city) if not own else None,
    }
    return ComparisonReport(config, scores, sens, personal, timings, counts)


def _personal_data(loc: _LocationRun, en: _EnRun, n_cases: int) -> list[tuple[str, str, str]]:
    """What each method needed, with the run's own counts."""
    tables = ", ".join(t for t in loc.tables)
    return [
        ("records read",
         f"{loc.rows_read:,} rows of personal records for {n_cases} cases ({tables}), "
         "each read audited",
         f"{en.keys_uploaded:,} daily keys of {en.uploaders} consenting cases "
         f"({en.export_files} signed files, {en.export_bytes:,} bytes)"),
        ("the case's location", "GPS trace, cell records, card payments, visitor logs over the "
         "infectious window", "none"),
        ("other people's location", "everyone's records near the case's places and times "
         "(place-time index), the household register", "none: each phone keeps what it heard, "
         "for 14 days"),
        ("identity", "person id -> name and phone number to send the SMS (operational database)",
         "none: the verification code proves a positive test without naming anyone"),
        ("who sees it", "investigators and health officers (audited)", "the key server sees "
         "random keys, upload time and the network address of the upload; matching and the "
         "risk score stay on the phones"),
        ("contact graph", "built by the health authority", "never assembled anywhere"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print its tables; optionally write the plot and Markdown."""
    parser = argparse.ArgumentParser(
        prog="python -m epicity.exposure.compare",
        description="Exposure notification vs location-based tracing on a synthetic city.",
    )
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--introductions", type=int,
                        help="people infected before day 0 (default: one per 1,000)")  # fmt: skip
    parser.add_argument("--adoption", type=float, default=0.3)
    parser.add_argument("--upload-share", type=float, default=0.6)
    parser.add_argument("--sensitivity", default="0.2,0.4,0.6",
                        help="comma-separated adoption shares (empty: none)")  # fmt: skip
    parser.add_argument("--city", type=Path, help="an existing generated city (with --store)")
    parser.add_argument("--store", type=Path, help="its location store")
    parser.add_argument("--plot", type=Path, help="write the PNG here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    args = parser.parse_args(argv)
    try:
        sens = tuple(float(x) for x in args.sensitivity.split(",") if x.strip())
        started = time.perf_counter()
        report = compare_on_city(
            people=args.people, days=args.days, seed=args.seed,
            introductions=args.introductions, adoption=args.adoption,
            upload_share=args.upload_share, sensitivity=sens, city=args.city, store=args.store,
            progress=lambda m: print(f"... {m}", flush=True),
        )  # fmt: skip
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    print()
    print(report.markdown())
    print("counts: " + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()))
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.plot:
        print(f"plot: {report.plot(args.plot)}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report.markdown())
        print(f"tables: {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
