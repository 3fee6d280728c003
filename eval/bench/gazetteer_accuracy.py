"""Accuracy of the offline gazetteer on the shared corpus: one command, prints every number.

    python eval/bench/gazetteer_accuracy.py [--shared ../shared] [--names-only]
                                            [--without-reasoning]

0. Names against coordinates, per model: every answer that states both (both corpora's raw
   text parsed as the pipeline parses it), scored against the truth twice, from its
   coordinates and from its names with the coordinates stripped, at 25/200/750 km, with the
   targets (names within 1 point at 200 and 750 km, at least 92% of the coordinates'
   accuracy at 25 km). The names go through ``resolve_guesses(..., reasoning=...)`` with the
   answer's own reasoning, the call ``Geolocator.interpret`` makes; ``--without-reasoning``
   also prints the table from the names alone. Then how often the stated coordinates
   contradict the country named with them, and what the check did (repaired, replaced,
   kept).
1. IMAGEO-Bench dataset 3: each model's own answer (street, city, state, country) geocoded
   without its coordinates, compared with the model's coordinates and with the truth.
2. Broad areas: medoid vs centroid on name-only answers (region / country level).
3. Last resort: what finding place names in the reasoning recovers on the LLaVA and Llama
   answers of the Street View corpus, through ``Geolocator.interpret``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ethan.backends.base import Choice, ModelOutput
from ethan.geo import haversine_km
from ethan.geocode import Gazetteer, resolve_guesses, reverse
from ethan.geocode.text import is_unknown
from ethan.parse import parse_answer
from ethan.pipeline import Geolocator
from ethan.types import Guess, Hypothesis, PointSource, Status

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = (1, 25, 200, 750, 2500)


def score(km: float) -> float:
    """GeoGuessr's score for an error of ``km``: 5000 at 0, halving every ~1035 km."""
    return 5000.0 * math.exp(-km / 1492.7)


def _float(value: Any) -> float | None:
    try:
        f = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _acc(distances: Iterable[float], n: int, km: float) -> str:
    return f"{100 * sum(d <= km for d in distances) / max(n, 1):5.1f}%"


# -- 0. names against coordinates, per model --------------------------------------------------
# the best guess of an answer, the answer's reasoning (as the parser keeps it), the truth
Case = tuple[Guess, str, tuple[float, float]]


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _imageo_truth(shared: Path) -> dict[str, tuple[float, float]]:
    with (shared / "corpus" / "imageo-d3" / "truth.csv").open(encoding="utf-8", newline="") as f:
        return {
            r["image_id"]: (float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)
        }


def stated_cases(shared: Path) -> dict[str, list[Case]]:
    """Per model ("streetview/gpt-4o", "imageo/o3"): the best guess of every answer that
    gives both coordinates and a name, with its reasoning and the truth. Both corpora's raw
    answers are parsed as the pipeline parses them (IMAGEO's JSON gives street as the place,
    city, state and country)."""
    out: dict[str, list[Case]] = {}
    truth = _streetview_truth(shared)
    for path in sorted((shared / "corpus" / "streetview-dev" / "responses").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows = [(r["model_response"], truth.get(r["filename"])) for r in csv.DictReader(f)]
        out[f"streetview/{path.stem}"] = _cases(rows)
    t2 = _imageo_truth(shared)
    for path in sorted((shared / "corpus" / "imageo-d3" / "responses").glob("dataset3_*.jsonl")):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append(
                (row.get("raw_response") or "", t2.get(row["image_file"].rsplit(".", 1)[0]))
            )
        out[f"imageo/{path.stem.removeprefix('dataset3_')}"] = _cases(rows)
    return out


def _cases(rows: Iterable[tuple[str, tuple[float, float] | None]]) -> list[Case]:
    cases: list[Case] = []
    for text, true in rows:
        parsed = parse_answer(text)
        if true is None or parsed.status is not Status.OK or not parsed.guesses:
            continue
        g = parsed.guesses[0]
        if g.has_point() and g.has_name():
            cases.append((g, parsed.reasoning, true))
    return cases


def names_point(guess: Guess, reasoning: str, gaz: Gazetteer) -> Hypothesis | None:
    """The point the pipeline gives ``guess`` with its coordinates stripped: the same call
    that ``Geolocator.interpret`` makes (``reasoning=""``: names alone)."""
    stripped = guess.model_copy(update={"lat": None, "lon": None})
    found = resolve_guesses([stripped], gaz, reasoning=reasoning)
    return found[0] if found else None


def names_vs_coordinates(
    cases: dict[str, list[Case]], gaz: Gazetteer, *, reasoning: bool = True
) -> bool:
    """Print the per-model table; whether every model meets the targets."""
    how = "names and reasoning" if reasoning else "names alone, no reasoning"
    print(f"\n== Names ({how}) vs stated coordinates, per model (same answers, truth distance) ==")
    print(
        f"{'model':48} {'n':>4}   acc@25 coord/names   acc@200 coord/names"
        f"   acc@750 coord/names  targets"
    )
    everyone = True
    for model, rows in cases.items():
        n = len(rows)
        coord = [haversine_km(g.lat, g.lon, *t) for g, _, t in rows]  # type: ignore[arg-type]
        names: list[float] = []
        for g, text, t in rows:
            hit = names_point(g, text if reasoning else "", gaz)
            names.append(haversine_km(hit.lat, hit.lon, *t) if hit else math.inf)

        def acc(d: list[float], km: float) -> float:
            return 100 * sum(x <= km for x in d) / max(len(d), 1)

        ok = (
            acc(names, 200) >= acc(coord, 200) - 1
            and acc(names, 750) >= acc(coord, 750) - 1
            and acc(names, 25) >= 0.92 * acc(coord, 25)
        )
        everyone &= ok
        cells = "   ".join(
            f"{acc(coord, km):5.1f} / {acc(names, km):5.1f}      " for km in (25, 200, 750)
        )
        print(f"{model:48} {n:4d}   {cells} {'met' if ok else 'MISSED'}")
    return everyone


def stated_checks(cases: dict[str, list[Case]], gaz: Gazetteer) -> None:
    """How often stated coordinates contradict the named country, and what was done."""
    print("\n== Stated coordinates checked against the named country (every answer above) ==")
    kinds = ("repaired", "replaced", "outside")
    print(f"{'corpus':12} {'answers':>7} " + " ".join(f"{k:>9}" for k in kinds) + "  examples")
    for corpus in ("streetview", "imageo"):
        counts = dict.fromkeys(kinds, 0)
        total = 0
        examples: list[str] = []
        raw: list[float] = []
        checked: list[float] = []
        repairs: Counter[str] = Counter()
        zeros = 0
        for model, rows in cases.items():
            if not model.startswith(corpus):
                continue
            for g, text, true in rows:
                total += 1
                (h,) = resolve_guesses([g], gaz, reasoning=text)
                raw.append(haversine_km(g.lat, g.lon, *true))  # type: ignore[arg-type]
                checked.append(haversine_km(h.lat, h.lon, *true))
                if h.check is None:
                    continue
                kind = h.check.split(":", 1)[0]
                counts[kind] = counts.get(kind, 0) + 1
                if kind == "repaired":
                    repairs[h.check.split(":", 1)[1].split("(", 1)[0].strip()] += 1
                if (g.lat, g.lon) == (0.0, 0.0):
                    zeros += 1
                if len(examples) < 3:
                    examples.append(f"{g.label()} ({g.lat}, {g.lon}): {h.check}")
        cells = " ".join(f"{counts[k]:9d}" for k in kinds)
        accs = "  ".join(
            f"acc@{km} {_acc(raw, total, km).strip()} -> {_acc(checked, total, km).strip()}"
            for km in (25, 200, 750)
        )
        print(f"{corpus:12} {total:7d} {cells}  (as stated -> checked: {accs})")
        kinds_fixed = ", ".join(f"{n} {how}" for how, n in repairs.most_common()) or "none"
        print(f"    repairs: {kinds_fixed}; flagged points at (0, 0): {zeros}")
        for e in examples:
            print(f"    {e}")


# -- 1. IMAGEO-Bench dataset 3 --------------------------------------------------------------
def imageo(shared: Path, gaz: Gazetteer) -> None:
    base = shared / "corpus" / "imageo-d3"
    with (base / "truth.csv").open(encoding="utf-8", newline="") as f:
        truth = {
            r["image_id"]: (float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)
        }
    print("\n== IMAGEO-Bench d3: geocoding each model's own answer text (no coordinates) ==")
    print(
        f"{'model':42} {'named':>5} {'resolved':>8} {'city-lvl':>8} {'med km→model':>12} "
        f"{'acc@25 geocoded':>15} {'acc@25 model':>12}"
    )
    totals = {"named": 0, "resolved": 0, "city": 0}
    for path in sorted((base / "responses").glob("dataset3_*.jsonl")):
        named = resolved = city_level = 0
        to_model: list[float] = []
        ours: list[float] = []
        theirs: list[float] = []
        n_truth = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            info = _dict(_dict(row.get("location_info")).get("reverse_geocoding"))
            address = _dict(info.get("address"))
            city = address.get("city")
            if not city or is_unknown(str(city)):
                continue
            named += 1
            guess = Guess(
                place=None if is_unknown(str(address.get("street"))) else address.get("street"),
                city=str(city),
                region=address.get("state"),
                country=address.get("country"),
            )
            hit = gaz.resolve(guess)
            coords = _dict(info.get("coordinates"))
            lat, lon = _float(coords.get("latitude")), _float(coords.get("longitude"))
            true = truth.get(row["image_file"].rsplit(".", 1)[0])
            if true is not None:
                n_truth += 1
                if lat is not None and lon is not None:
                    theirs.append(haversine_km(lat, lon, *true))
            if hit is None:
                continue
            resolved += 1
            city_level += hit.level in ("landmark", "place", "city")
            if lat is not None and lon is not None:
                to_model.append(haversine_km(hit.lat, hit.lon, lat, lon))
            if true is not None:
                ours.append(haversine_km(hit.lat, hit.lon, *true))
        model = path.stem.removeprefix("dataset3_")
        med = statistics.median(to_model) if to_model else float("nan")
        print(
            f"{model:42} {named:5d} {100 * resolved / max(named, 1):7.1f}% "
            f"{100 * city_level / max(named, 1):7.1f}% {med:12.1f} "
            f"{_acc(ours, n_truth, 25):>15} {_acc(theirs, n_truth, 25):>12}"
        )
        totals["named"] += named
        totals["resolved"] += resolved
        totals["city"] += city_level
    n = max(totals["named"], 1)
    print(
        f"{'ALL':42} {totals['named']:5d} {100 * totals['resolved'] / n:7.1f}% "
        f"{100 * totals['city'] / n:7.1f}%"
    )


# -- 2. broad areas: medoid vs centroid -----------------------------------------------------------
def _streetview_truth(shared: Path) -> dict[str, tuple[float, float]]:
    with (shared / "corpus" / "streetview-dev" / "truth.csv").open(encoding="utf-8") as f:
        return {r["filename"]: (float(r["lat"]), float(r["lng"])) for r in csv.DictReader(f)}


def _broad_cases(shared: Path) -> list[tuple[Guess, tuple[float, float], bool]]:
    """(guess without coordinates, truth, name-only as written) for every best guess in
    both corpora; name-only as written: the model gave no coordinates at all."""
    cases: list[tuple[Guess, tuple[float, float], bool]] = []
    truth = _streetview_truth(shared)
    for path in sorted((shared / "corpus" / "streetview-dev" / "responses").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                parsed = parse_answer(row["model_response"])
                if parsed.status is Status.OK and parsed.guesses and row["filename"] in truth:
                    g = parsed.guesses[0]
                    stripped = g.model_copy(update={"lat": None, "lon": None})
                    cases.append((stripped, truth[row["filename"]], not g.has_point()))
    base = shared / "corpus" / "imageo-d3"
    with (base / "truth.csv").open(encoding="utf-8", newline="") as f:
        t2 = {
            r["image_id"]: (float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)
        }
    for path in sorted((base / "responses").glob("dataset3_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            info = _dict(_dict(row.get("location_info")).get("reverse_geocoding"))
            a = _dict(info.get("address"))
            c = _dict(info.get("coordinates"))
            true = t2.get(row["image_file"].rsplit(".", 1)[0])
            if true is None:
                continue
            guess = Guess(city=a.get("city"), region=a.get("state"), country=a.get("country"))
            has_point = _float(c.get("latitude")) is not None
            cases.append((guess, true, not has_point))
    return cases


def broad(shared: Path, medoid: Gazetteer, centroid: Gazetteer) -> None:
    print("\n== Broad areas: medoid vs centroid on answers that resolve to a region/country ==")
    cases = _broad_cases(shared)
    for label, only_written in (("name-only as written", True), ("coordinates stripped", False)):
        rows: dict[str, list[tuple[float, float]]] = {"region": [], "country": []}
        for guess, true, name_only in cases:
            if only_written and not name_only:
                continue
            a = medoid.resolve(guess)
            if a is None or a.level not in rows:
                continue
            b = centroid.resolve(guess)
            if b is None:
                continue
            rows[a.level].append(
                (haversine_km(a.lat, a.lon, *true), haversine_km(b.lat, b.lon, *true))
            )
        for level, pairs in rows.items():
            if not pairs:
                print(f"  {label:22} {level:8} n=0")
                continue
            m = [p[0] for p in pairs]
            c = [p[1] for p in pairs]
            sm, sc = statistics.fmean(map(score, m)), statistics.fmean(map(score, c))
            print(
                f"  {label:22} {level:8} n={len(pairs):4d}  median km medoid "
                f"{statistics.median(m):7.0f} centroid {statistics.median(c):7.0f}"
                f" | mean score medoid {sm:6.0f} centroid {sc:6.0f}"
                f" | acc@200 {_acc(m, len(m), 200)} vs {_acc(c, len(c), 200)}"
                f" | acc@750 {_acc(m, len(m), 750)} vs {_acc(c, len(c), 750)}"
            )


# -- 3. last resort ----------------------------------------------------------------------------
class _NoBackend:
    name = "none"
    model = "replayed"

    async def generate(self, *_: Any) -> ModelOutput:
        raise RuntimeError("replayed answers only")

    def identity(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        return None


def _cut(text: str) -> str:
    """The answer cut off before its final answer, as when max_tokens runs out: at the
    start of the last JSON object, or at half its length when it has none."""
    brace = text.rfind("{")
    return text[:brace] if brace > 0 else text[: len(text) // 2]


def last_resort(shared: Path, gaz: Gazetteer) -> None:
    print("\n== Last resort (place names in the reasoning) on LLaVA and Llama, Street View ==")
    truth = _streetview_truth(shared)
    on = Geolocator(_NoBackend(), geocoder=gaz, cache=False, last_resort=True)
    off = Geolocator(_NoBackend(), geocoder=gaz, cache=False, last_resort=False)
    for model in ("llava-v1.6-mistral-7b", "llama-3.2-11b-vision"):
        path = shared / "corpus" / "streetview-dev" / "responses" / f"{model}.csv"
        with path.open(encoding="utf-8", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["filename"] in truth]
        for label, cut in (("as recorded", False), ("cut before answer", True)):
            _compare(model, label, rows, truth, on, off, cut)


def _compare(
    model: str,
    label: str,
    rows: list[dict[str, str]],
    truth: dict[str, tuple[float, float]],
    on: Geolocator,
    off: Geolocator,
    cut: bool,
) -> None:
    recovered: list[float] = []
    right_country = 0
    changed_ok = 0
    base_scores: list[float] = []
    new_scores: list[float] = []
    for row in rows:
        text = _cut(row["model_response"]) if cut else row["model_response"]
        choice = Choice(text=text, finish_reason="length" if cut else "stop")
        output = ModelOutput(model=model, choices=[choice])
        a = off.interpret(output, image=row["filename"])
        b = on.interpret(output, image=row["filename"])
        true = truth[row["filename"]]
        sa = score(haversine_km(a.lat, a.lon, *true)) if a.ok else 0.0  # type: ignore[arg-type]
        sb = score(haversine_km(b.lat, b.lon, *true)) if b.ok else 0.0  # type: ignore[arg-type]
        base_scores.append(sa)
        new_scores.append(sb)
        if a.ok and (a.lat, a.lon) != (b.lat, b.lon):
            changed_ok += 1
        if not a.ok and b.ok:
            assert b.hypotheses and b.hypotheses[0].source is PointSource.MENTIONED
            recovered.append(haversine_km(b.lat, b.lon, *true))  # type: ignore[arg-type]
            ours = reverse(b.lat, b.lon).country_code  # type: ignore[arg-type]
            right_country += ours is not None and ours == reverse(*true).country_code
    failed = sum(1 for r, s in zip(rows, base_scores, strict=True) if s == 0.0)
    med = statistics.median(recovered) if recovered else float("nan")
    print(
        f"  {model:22} {label:18} n={len(rows)} failures without it {failed:3d}  recovered "
        f"{len(recovered):3d} (right country {right_country}, median {med:.0f} km, "
        f"acc@750 {_acc(recovered, max(len(recovered), 1), 750)})  answers changed {changed_ok}"
        f"  mean score {statistics.fmean(base_scores):.0f} -> {statistics.fmean(new_scores):.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument(
        "--names-only", action="store_true", help="only the per-model table and the checks"
    )
    parser.add_argument(
        "--without-reasoning",
        action="store_true",
        help="also print the table from the names alone, the reasoning not read",
    )
    args = parser.parse_args(argv)
    if not (args.shared / "corpus").is_dir():
        print(f"no shared corpus at {args.shared}", file=sys.stderr)
        return 1
    medoid = Gazetteer()
    cases = stated_cases(args.shared)
    if args.without_reasoning:
        names_vs_coordinates(cases, medoid, reasoning=False)
    met = names_vs_coordinates(cases, medoid)
    stated_checks(cases, medoid)
    if args.names_only:
        return 0 if met else 1
    centroid = Gazetteer(broad="centroid")
    imageo(args.shared, medoid)
    broad(args.shared, medoid, centroid)
    last_resort(args.shared, medoid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
