"""Speed and memory of the offline gazetteer: one command, prints measured rates.

    python eval/bench/gazetteer.py

Targets (issues 4 and 10, for the default index of every GeoNames town of 500+ people):
first build <= 60 s (a progress line on stderr meanwhile); exact-name lookups >= 20,000/s;
fuzzy fallback <= 5 ms; cold start from the compiled index <= 0.5 s; resident memory of the
loaded gazetteer <= 250 MB; reverse lookups >= 50,000/s in batch. The first build is
measured in a fresh process with an empty compiled-data folder; cold start and memory in
fresh processes, after this process has compiled the index and the border tiles into the
user cache.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from statistics import median

import numpy as np

from ethan.geocode import Gazetteer, ReverseGeocoder
from ethan.types import Guess

_CHILD = r"""
import json, time
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
t0 = time.perf_counter()
from ethan.geocode import Gazetteer, ReverseGeocoder
t1 = time.perf_counter()
before = rss()
what = {what!r}
if what == "gazetteer":
    g = Gazetteer()
    g.search("Porto Alegre, Brazil")
else:
    r = ReverseGeocoder()
    r.reverse(48.85, 2.35)
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "rss_mb": rss() - before,
                  "total_rss_mb": rss()}}))
"""


def _child(what: str, env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(what=what)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(name) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return name[:i] + name[i + 1 :]  # deletion
    if kind == 1:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # swap
    return name[:i] + "x" + name[i + 1 :]  # substitution


def main() -> int:
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as empty:
        first_build = _child("gazetteer", {**os.environ, "ETHAN_GAZETTEER_DIR": empty})
    print(
        f"first build in a fresh process (empty compiled-data folder): "
        f"{first_build['load_s']:.1f} s (target <= 60 s)"
    )
    gaz = Gazetteer()
    started = time.perf_counter()
    gaz.search("Paris")
    first = time.perf_counter() - started
    print(f"first use in this process (builds or reads the cache): {first:.2f} s")
    rev = ReverseGeocoder()
    rev.reverse(0.0, 0.0)

    cold = [_child("gazetteer") for _ in range(3)]
    print(
        f"gazetteer cold start from the compiled index: {median(c['load_s'] for c in cold):.3f} s"
        f" (target <= 0.5 s; importing ethan first: {median(c['import_s'] for c in cold):.3f} s)"
    )
    print(
        f"resident memory of the loaded gazetteer: {median(c['rss_mb'] for c in cold):.0f} MB"
        f" (target <= 250 MB; whole process {median(c['total_rss_mb'] for c in cold):.0f} MB)"
    )
    rcold = [_child("reverse") for _ in range(3)]
    print(
        f"reverse geocoder cold start: {median(c['load_s'] for c in rcold):.3f} s, "
        f"memory {median(c['rss_mb'] for c in rcold):.0f} MB"
    )

    idx = gaz.index
    started = time.perf_counter()
    gaz.resolve(Guess(city="Sydeny", country="AU"))  # builds the per-country name buckets
    gaz.resolve(Guess(city="Sydeny"))
    print(
        f"first near-miss lookup (builds the typo buckets, once per process): "
        f"{time.perf_counter() - started:.2f} s"
    )
    rows = rng.sample(range(len(idx.city_name)), 20000)
    guesses = [Guess(city=idx.city_name[r], country=idx.city_country[r]) for r in rows]
    started = time.perf_counter()
    hits = [gaz.resolve(g) for g in guesses]
    elapsed = time.perf_counter() - started
    city_level = sum(h is not None and h.level in ("city", "landmark") for h in hits)
    print(
        f"exact-name lookups (city + country): {len(guesses) / elapsed:,.0f}/s "
        f"({100 * city_level / len(hits):.1f}% at city level; target >= 20,000/s)"
    )
    names = [idx.city_name[r] for r in rows]
    started = time.perf_counter()
    for name in names:
        gaz.search(name)
    print(f"exact-name free-text search: {len(names) / (time.perf_counter() - started):,.0f}/s")

    big = [r for r in rows if idx.city_pop[r] >= 50000 and len(idx.city_name[r]) >= 7][:300]
    typos = [(_typo(idx.city_name[r], rng), idx.city_country[r], r) for r in big]
    for label, with_country in (("with country", True), ("no country", False)):
        times = []
        right = 0
        for name, cc, r in typos:
            started = time.perf_counter()
            hit = gaz.resolve(Guess(city=name, country=cc if with_country else None))
            times.append(time.perf_counter() - started)
            right += hit is not None and hit.name.startswith(idx.city_name[r])
        print(
            f"fuzzy fallback ({label}): median {1000 * median(times):.2f} ms, p95 "
            f"{1000 * sorted(times)[int(0.95 * len(times))]:.2f} ms, "
            f"{100 * right / len(typos):.0f}% found the intended city (target <= 5 ms)"
        )

    lat = np.asarray(idx.city_lat) + np.random.default_rng(4).normal(0, 0.05, len(idx.city_lat))
    lon = np.asarray(idx.city_lon) + np.random.default_rng(5).normal(0, 0.05, len(idx.city_lon))
    lat, lon = np.clip(lat, -90, 90), np.clip(lon, -180, 180)
    started = time.perf_counter()
    rev.reverse_many(lat, lon)
    elapsed = time.perf_counter() - started
    rate = lat.size / elapsed
    print(f"reverse lookups in batch (points near towns): {rate:,.0f}/s (target >= 50,000/s)")
    g = np.random.default_rng(6)
    ulat, ulon = g.uniform(-90, 90, 200_000), g.uniform(-180, 180, 200_000)
    started = time.perf_counter()
    rev.reverse_many(ulat, ulon)
    rate = ulat.size / (time.perf_counter() - started)
    print(f"reverse lookups in batch (uniform over the globe): {rate:,.0f}/s")
    started = time.perf_counter()
    for a, b in zip(lat[:2000].tolist(), lon[:2000].tolist(), strict=True):
        rev.reverse(a, b)
    print(f"reverse lookups one at a time: {2000 / (time.perf_counter() - started):,.0f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
