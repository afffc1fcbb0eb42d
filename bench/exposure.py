"""Benchmark: exposure-notification export generation and a phone's matching throughput.

Prints tables (medians of `--repeats` runs, ratios to the alternative measured in the same run;
the matching table gives CPU seconds beside wall seconds, since on a shared machine the wall
clock also counts the time spent waiting for the core, and the load average):

(a) **Export generation**, `--export-keys` (100,000) diagnosis keys: export.bin (encode), export.sig
    (ECDSA P-256 sign), the zip (`epicity.exposure.keyfile`), sizes; the key server's pure
    `export_zips` (files of 10,000 keys) and its batch job `build_export_batches` on a fresh
    SQLite database holding the uploaded keys (B's `epicity.exposure.keyserver`, when it
    imports); and the phone's side of a download: read the zips, verify, decode.
(b) **Matching throughput**: `--keys` (1,000,000) downloaded keys over 14 days against 14 days
    of one phone's observations (`--rpis-per-day` distinct RPIs heard a day, each heard
    `--sightings` times), pinned to one CPU (``os.sched_setaffinity``; or run under
    ``taskset -c 0``). Rows: `matching.match` (AES through the `cryptography` package via
    `crypto.rpis`, vectorised probing), and the alternatives a developer would write,
    measured on a sample of keys and extrapolated (said so in the table):
    - *per key, per interval*: HKDF with `cryptography`'s HKDF class, then one AES-ECB Cipher
      per interval (144 per key), each RPI looked up in a Python set of the heard RPIs - the
      specification's algorithm written out directly;
    - *per key, batched AES*: `crypto.rpis` (one AES call per key) with the same set lookups.
    The methods run interleaved, `--repeats` rounds, so that they share the machine's load.
    Each run of `match` checks that the planted contacts (`--planted` keys whose RPIs the
    phone heard) are found, and no other key. Peak memory is the process's maximum RSS
    (``resource.getrusage``) after the section.
(c) ``--compare``: the comparison with location-based tracing on the synthetic city
    (`epicity.exposure.compare.compare_on_city`), printed as Markdown.

Commands (as run for docs/exposure/client.md)::

    .venv/bin/python bench/exposure.py                       # (a) and (b), 1M keys, 3 runs
    .venv/bin/python bench/exposure.py --keys 100000 --repeats 5
    taskset -c 0 .venv/bin/python bench/exposure.py --section matching
    .venv/bin/python bench/exposure.py --section export --export-keys 100000
    .venv/bin/python bench/exposure.py --section none --compare --people 50000 --days 14
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from epicity.exposure import crypto
from epicity.exposure.keyfile import (
    DiagnosisKey,
    KeyExport,
    SignatureInfo,
    decode_export,
    encode_export,
    read_zip,
    sign_export,
    verify_export,
    write_zip,
)
from epicity.exposure.matching import (
    DSOS_MISSING,
    KeyBatch,
    Observations,
    match,
)

DAY0 = 2_650_032  # 2020-05-20T00:00Z: a multiple of 144
DAYS = 14
INFO = SignatureInfo(verification_key_version="v1", verification_key_id="450")


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The median wall time of `repeats` calls and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def peak_rss_mb() -> float:
    """The process's maximum resident set size so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a left/right aligned text table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


# --------------------------------------------------------------------------- (a) export


def random_keys(n: int, rng: np.random.Generator) -> list[DiagnosisKey]:
    """`n` diagnosis keys of the last 14 days with CWA-like metadata."""
    data = rng.integers(0, 256, (n, 16), dtype=np.uint8).tobytes()
    days = rng.integers(0, DAYS, n)
    trls = rng.integers(1, 9, n)
    return [
        DiagnosisKey(
            key_data=data[16 * i : 16 * i + 16],
            rolling_start_interval_number=DAY0 + 144 * int(days[i]),
            transmission_risk_level=int(trls[i]),
            report_type=1,
            days_since_onset_of_symptoms=int(days[i]) - 7,
        )
        for i in range(n)
    ]


def export_section(args: argparse.Namespace) -> None:
    """Table (a): export generation and download for `args.export_keys` keys."""
    rng = np.random.default_rng(args.seed)
    signer_key = ec.derive_private_key(20_200_520, ec.SECP256R1())
    keys = random_keys(args.export_keys, rng)
    start = dt.datetime(2020, 6, 3, tzinfo=dt.UTC)
    export = KeyExport(
        int(start.timestamp()), int(start.timestamp()) + 86_400, "KR-11", 1, 1, (INFO,), tuple(keys)
    )
    r = args.repeats
    t_enc, export_bin = median_time(lambda: encode_export(export), r)
    assert isinstance(export_bin, bytes)
    t_sig, export_sig = median_time(lambda: sign_export(export_bin, signer_key, INFO, 1, 1), r)
    assert isinstance(export_sig, bytes)
    t_zip, zipped = median_time(lambda: write_zip(export_bin, export_sig), r)
    assert isinstance(zipped, bytes)
    n = args.export_keys
    rows = [
        ["encode_export: export.bin", f"{t_enc:.3f}", f"{n / t_enc:,.0f}", f"{len(export_bin):,}"],
        ["sign_export: export.sig (ECDSA P-256)", f"{t_sig:.4f}", "", f"{len(export_sig):,}"],
        ["write_zip", f"{t_zip:.3f}", f"{n / t_zip:,.0f}", f"{len(zipped):,}"],
        [
            "one file: total",
            f"{t_enc + t_sig + t_zip:.3f}",
            f"{n / (t_enc + t_sig + t_zip):,.0f}",
            "",
        ],
    ]
    public = {("450", "v1"): signer_key.public_key()}

    def download(zips: list[bytes]) -> int:
        total = 0
        for z in zips:
            b, s = read_zip(z)
            verify_export(b, s, public)
            total += len(KeyBatch.from_keys(decode_export(b).keys))
        return total

    try:
        from epicity.exposure import keyserver
        from epicity.exposure.signing import Signer
    except ImportError as e:  # B's key server not there: say so, keep the keyfile rows
        rows.append([f"keyserver not importable ({e})", "", "", ""])
        zips = [zipped]
    else:
        signer = Signer(signer_key, INFO)
        t_ez, made = median_time(
            lambda: keyserver.export_zips(
                keys, region="KR-11", start=start, end=start + dt.timedelta(days=1), signer=signer
            ),
            r,
        )
        assert isinstance(made, list)
        zips = made
        rows.append(
            [
                f"keyserver.export_zips ({len(zips)} files of <= 10,000)",
                f"{t_ez:.3f}",
                f"{n / t_ez:,.0f}",
                f"{sum(len(z) for z in zips):,}",
            ]
        )
        t_job, built = batch_job(keys, signer, start, args.db_repeats)
        rows.append(
            [
                f"build_export_batches on SQLite ({built} files)",
                f"{t_job:.3f}",
                f"{n / t_job:,.0f}",
                "",
            ]
        )
    t_dl, got = median_time(lambda: download(zips), r)
    assert got == n, got
    rows.append(
        [
            f"phone download: read + verify + decode ({len(zips)} zips)",
            f"{t_dl:.3f}",
            f"{n / t_dl:,.0f}",
            "",
        ]
    )
    table(
        f"(a) Export generation, {n:,} keys (median of {r}; the SQLite job of {args.db_repeats}); "
        f"peak RSS {peak_rss_mb():,.0f} MB, load average {os.getloadavg()[0]:.1f}",
        ["step", "seconds", "keys/s", "bytes"],
        rows,
    )


def batch_job(
    keys: list[DiagnosisKey], signer: Any, start: dt.datetime, repeats: int
) -> tuple[float, int]:
    """Median time of the key server's daily export job over `keys` uploaded on `start`'s day,
    each run on a fresh migrated SQLite database (the job is idempotent: a window is made once)."""
    from sqlalchemy import insert

    from epicity.db import make_engine, migrate, session_factory
    from epicity.exposure import keyserver
    from epicity.exposure.models import DiagnosisKeyRow
    from epicity.exposure.settings import ExposureSettings

    settings = ExposureSettings()
    times, files = [], 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'keys.db'}")
            migrate(engine)
            sessions = session_factory(engine)
            rows = [
                {
                    "key_data": k.key_data,
                    "region": settings.regions[0],
                    "rolling_start_interval_number": k.rolling_start_interval_number,
                    "rolling_period": k.rolling_period,
                    "transmission_risk_level": k.transmission_risk_level,
                    "report_type": int(k.report_type or 0),
                    "days_since_onset_of_symptoms": k.days_since_onset_of_symptoms,
                    "export_at": start + dt.timedelta(hours=10),
                    "padding": False,
                }
                for k in keys
            ]
            with sessions() as s:
                s.execute(insert(DiagnosisKeyRow), rows)
                s.commit()
            now = start + dt.timedelta(days=1, hours=1)
            with sessions() as s:
                t = time.perf_counter()
                built = keyserver.build_export_batches(
                    s,
                    now=now,
                    region=settings.regions[0],
                    period="daily",
                    settings=settings,
                    signer=signer,
                )
                s.commit()
                times.append(time.perf_counter() - t)
            files = sum(len(b.files) for b in built)
            engine.dispose()
    return statistics.median(times), files


# --------------------------------------------------------------------------- (b) matching


def phone_observations(
    rng: np.random.Generator, rpis_per_day: int, sightings: int, planted: KeyBatch
) -> Observations:
    """14 days of what one phone hears: random RPIs plus 30 minutes of each planted key."""
    n_distinct = rpis_per_day * DAYS
    rpi = rng.integers(0, 256, (n_distinct, 16), dtype=np.uint8)
    day = np.repeat(np.arange(DAYS), rpis_per_day)
    first = (DAY0 + 144 * day + rng.integers(0, 144, n_distinct)) * 600 + rng.integers(
        0, 600, n_distinct
    )
    rows = np.repeat(np.arange(n_distinct), sightings)
    at = first[rows] + 150 * np.tile(np.arange(sightings), n_distinct)
    rpis, times = [rpi[rows]], [at]
    for i in range(len(planted)):
        tek = planted.key_data[i].tobytes()
        start = int(planted.rolling_start[i])
        ids = np.frombuffer(crypto.rpis(tek, start), np.uint8).reshape(144, 16)
        slots = np.array([60, 60, 61, 61, 62, 62])  # 10:00-10:30, heard every 5 minutes
        rpis.append(ids[slots])
        times.append((start + slots) * 600 + np.arange(len(slots)) % 2 * 300)
    all_rpi, all_at = np.concatenate(rpis), np.concatenate(times)
    n = len(all_at)
    return Observations.from_arrays(
        rpi=all_rpi,
        aem=rng.integers(0, 256, (n, 4), dtype=np.uint8),
        at=all_at,
        seconds=np.full(n, 300),
        attenuation_db=rng.uniform(40, 90, n).astype(np.float32),
    )


def downloaded_keys(n: int, planted: int, rng: np.random.Generator) -> KeyBatch:
    """`n` diagnosis keys over 14 days as columns; the first `planted` are the ones met."""
    return KeyBatch(
        rng.integers(0, 256, (n, 16), dtype=np.uint8),
        DAY0 + 144 * rng.integers(0, DAYS, n),
        np.full(n, 144),
        rng.integers(1, 9, n),
        np.full(n, 1),
        np.full(n, DSOS_MISSING),
    )


def naive_per_interval(keys: KeyBatch, heard: set[bytes]) -> int:
    """The specification's algorithm written out: HKDF (cryptography) then one AES-ECB Cipher
    per interval, each RPI looked up in a set. Returns the number of keys heard."""
    found = 0
    for i in range(len(keys)):
        tek = keys.key_data[i].tobytes()
        rpik = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b"EN-RPIK").derive(tek)
        start = int(keys.rolling_start[i])
        for j in range(int(keys.rolling_period[i])):
            block = crypto.padded_data(start + j)
            if Cipher(algorithms.AES(rpik), modes.ECB()).encryptor().update(block) in heard:
                found += 1
                break
    return found


def batched_aes_set_lookup(keys: KeyBatch, heard: set[bytes]) -> int:
    """One AES call per key (`crypto.rpis`), then 144 set lookups per key."""
    found = 0
    for i in range(len(keys)):
        ids = crypto.rpis(
            keys.key_data[i].tobytes(), int(keys.rolling_start[i]), int(keys.rolling_period[i])
        )
        if any(ids[k : k + 16] in heard for k in range(0, len(ids), 16)):
            found += 1
    return found


def matching_section(args: argparse.Namespace) -> None:
    """Table (b): matching throughput on one core."""
    rng = np.random.default_rng(args.seed)
    keys = downloaded_keys(args.keys, args.planted, rng)
    planted = keys.take(np.arange(args.planted))
    obs = phone_observations(rng, args.rpis_per_day, args.sightings, planted)
    heard_set = {obs.rpi[i].tobytes() for i in range(len(obs))}
    expected = {planted.key_data[i].tobytes() for i in range(len(planted))}
    n = len(keys)
    # (method, keys timed, call, factor from the call's time to the time for all n keys)
    methods: list[tuple[str, str, Callable[[], object], float]] = []

    def once() -> int:
        found = match(keys, obs)
        assert {m.key.key_data for m in found} == expected, "planted contacts not found exactly"
        return len(found)

    match(keys.take(slice(0, 20_000)), obs)  # warm up: padded blocks
    methods.append(("match(), AES via cryptography", "all", once, 1.0))
    naive_label = "per key, per interval: cryptography HKDF + 144 AES Ciphers, set lookups"
    for label, fn, sample in (
        (naive_label, naive_per_interval, args.naive_sample),
        (
            "per key: crypto.rpis (1 AES call) + 144 set lookups",
            batched_aes_set_lookup,
            5 * args.naive_sample,
        ),
    ):
        sub = keys.take(np.arange(args.planted, args.planted + sample))  # none planted: full work
        methods.append(
            (
                label,
                f"{sample:,}, extrapolated",
                lambda fn=fn, sub=sub: fn(sub, heard_set),  # type: ignore[misc]
                n / sample,
            )
        )
    # Interleaved (method 1, 2, 3, then again): on a shared machine the load drifts, and
    # the ratios should compare methods under the same load.
    # CPU time beside wall time: on a shared machine the wall clock also counts the time the
    # process waited for its core; the CPU time is what one core spent.
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in methods}
    for _ in range(args.repeats):
        for label, _timed, call, factor in methods:
            t, c = time.perf_counter(), time.process_time()
            call()
            times[label].append(
                ((time.perf_counter() - t) * factor, (time.process_time() - c) * factor)
            )
    measured = [
        (
            label,
            timed,
            statistics.median(w for w, _ in times[label]),
            statistics.median(c for _, c in times[label]),
        )
        for label, timed, *_ in methods
    ]
    naive = next(cpu for label, _, _, cpu in measured if label == naive_label)
    rows = [
        [label, timed, f"{wall:.2f}", f"{cpu:.2f}", f"{n / cpu:,.0f}", f"{naive / cpu:.1f}x"]
        for label, timed, wall, cpu in measured
    ]
    table(
        f"(b) Matching {n:,} keys against 14 days x {args.rpis_per_day:,} RPIs/day x "
        f"{args.sightings} sightings ({len(obs):,} observations, {args.planted} contacts planted), "
        f"CPU {sorted(os.sched_getaffinity(0))}, median of {args.repeats}; "
        f"peak RSS {peak_rss_mb():,.0f} MB, load average {os.getloadavg()[0]:.1f}",
        ["method", "keys timed", "wall s", "CPU s", "keys/CPU s", "vs per-interval (CPU)"],
        rows,
    )


def compare_section(args: argparse.Namespace) -> None:
    """(c) The comparison on the synthetic city (helper E's `compare_on_city`)."""
    from epicity.exposure.compare import compare_on_city

    report = compare_on_city(
        people=args.people, days=args.days, seed=args.seed, adoption=args.adoption
    )
    print("\n(c) Exposure notification vs location-based tracing\n")
    print(report.markdown())


def main() -> None:
    """Parse the options, pin to one CPU, run the sections."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--section", choices=["all", "export", "matching", "none"], default="all")
    parser.add_argument("--keys", type=int, default=1_000_000, help="downloaded keys to match")
    parser.add_argument("--rpis-per-day", type=int, default=1000, help="distinct RPIs heard a day")
    parser.add_argument("--sightings", type=int, default=3, help="scans that hear each RPI")
    parser.add_argument("--planted", type=int, default=10, help="keys the phone really met")
    parser.add_argument(
        "--naive-sample", type=int, default=2000, help="keys timed for the slow alternatives"
    )
    parser.add_argument("--export-keys", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db-repeats", type=int, default=3)
    parser.add_argument(
        "--cpu", type=int, default=None, help="pin to this CPU (default: the first allowed)"
    )
    parser.add_argument("--seed", type=int, default=1)
    # --compare: helper E's comparison on the synthetic city.
    parser.add_argument("--compare", action="store_true", help="also run the comparison (c)")
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--adoption", type=float, default=0.3)
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # one core: the claim is about one core
    if args.section in ("all", "matching"):
        matching_section(args)
    if args.section in ("all", "export"):
        export_section(args)
    if args.compare:
        compare_section(args)


if __name__ == "__main__":
    main()
