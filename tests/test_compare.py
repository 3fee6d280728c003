"""Comparison of runs: shared images, win rate, paired bootstrap, tables, external CSVs."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from ethan.eval.compare import (
    ExternalCSVError,
    compare,
    comparison_csv,
    comparison_markdown,
    load_external_csv,
)
from ethan.eval.metrics import MAX_KM, Record, score
from ethan.geo import EARTH_RADIUS_KM
from ethan.types import Status

KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180


def at(i: str, km: float | None, status: Status = Status.REFUSED) -> Record:
    """Truth at (0, 0); the prediction ``km`` due north, or unanswered when ``km`` is None."""
    if km is None:
        return Record(id=i, true_lat=0, true_lon=0, status=status)
    return Record(id=i, true_lat=0, true_lon=0, status=Status.OK, lat=km / KM_PER_DEGREE, lon=0)


def test_win_rate_ties_and_closest_on_a_hand_built_case() -> None:
    a = [at("1", 5), at("2", 500), at("3", 50), at("4", None), at("5", 10)]
    b = [at("1", 50), at("2", 5), at("3", None), at("4", None, Status.ERROR), at("5", 10)]
    c = compare({"A": a, "B": b}, bootstrap=200, geography=False)
    assert c.names == ["A", "B"] and c.shared == 5
    (p,) = c.pairs
    assert (p.a, p.b, p.n) == ("A", "B", 5)
    # A wins 1 and 3 (B unanswered = infinitely far), loses 2, ties 4 (both unanswered) and 5
    assert p.win_rate == pytest.approx((1 + 0 + 1 + 0.5 + 0.5) / 5)
    (q,) = compare({"B": b, "A": a}, bootstrap=200, geography=False).pairs
    assert q.win_rate == pytest.approx(1 - p.win_rate)
    # closest: A on 1 and 3, B on 2, both on the tie 5, nobody on 4
    assert c.closest == {"A": 3, "B": 2}
    # medians with unanswered at MAX_KM: A {5, 10, 50, 500, MAX} -> 50; B {5, 10, 50, MAX, MAX}
    assert p.median_diff_km == pytest.approx(50 - 50)
    assert p.acc25_diff == pytest.approx(2 / 5 - 2 / 5)
    assert c.metrics["A"].median_km == pytest.approx(50)
    assert c.metrics["B"].mean_km == pytest.approx((5 + 10 + 50 + 2 * MAX_KM) / 5)


def test_runs_are_restricted_to_the_images_they_all_share() -> None:
    a = [at("1", 1), at("2", 2), at("3", 3)]
    b = [at("2", 20), at("3", 30), at("4", 40)]
    e = [at("0", 1), at("2", 2), at("3", 3), at("9", 9)]
    c = compare({"A": a, "B": b, "E": e}, bootstrap=50, geography=False)
    assert c.shared == 2
    assert {m.n for m in c.metrics.values()} == {2}
    assert [(p.a, p.b) for p in c.pairs] == [("A", "B"), ("A", "E"), ("B", "E")]
    assert c.metrics["B"].median_km == pytest.approx(25)
    assert c.metrics["A"] == score(a[1:], bootstrap=50, geography=False)  # same as on its own
    assert c.pairs[0].win_rate == 1.0 and c.pairs[1].win_rate == 0.5  # A == E: all ties


def test_paired_bootstrap_has_the_sign_of_the_better_run() -> None:
    a = [at(str(i), 2 + i) for i in range(60)]  # 2..61 km
    b = [at(str(i), 40 + 10 * i) for i in range(60)]  # 40..630 km, always farther
    (p,) = compare({"A": a, "B": b}, bootstrap=200, geography=False).pairs
    assert p.win_rate == 1.0
    assert p.median_diff_km == pytest.approx(31.5 - 335.0)
    lo, hi = p.median_diff_ci95
    assert lo <= p.median_diff_km <= hi < 0
    assert p.acc25_diff == pytest.approx(24 / 60)
    lo, hi = p.acc25_diff_ci95
    assert 0 < lo <= p.acc25_diff <= hi
    (r,) = compare({"B": b, "A": a}, bootstrap=200, geography=False).pairs
    assert r.median_diff_km == pytest.approx(-p.median_diff_km)
    assert r.median_diff_ci95 == pytest.approx((-p.median_diff_ci95[1], -p.median_diff_ci95[0]))


def test_compare_refuses_ambiguous_input() -> None:
    with pytest.raises(ValueError, match="twice"):
        compare({"A": [at("1", 1), at("1", 2)], "B": [at("1", 1)]}, geography=False)
    with pytest.raises(ValueError, match="share no image"):
        compare({"A": [at("1", 1)], "B": [at("2", 1)]}, geography=False)
    moved = Record(id="1", true_lat=1.0, true_lon=0, status=Status.REFUSED)
    with pytest.raises(ValueError, match="disagree on the truth"):
        compare({"A": [at("1", 1)], "B": [moved]}, geography=False)
    with pytest.raises(ValueError, match="bootstrap"):
        compare({"A": [at("1", 1)]}, bootstrap=0, geography=False)


def test_markdown_and_csv_hold_the_numbers() -> None:
    a = [at("1", 5), at("2", 500), at("3", 50), at("4", None)]
    b = [at("1", 50), at("2", 5), at("3", None), at("4", 30)]
    c = compare({"gpt": a, "llava": b}, bootstrap=100, geography=False)
    md = comparison_markdown(c)
    assert "| metric | gpt | llava |" in md
    assert "| acc@25 km | 25.0% [" in md  # A: 1 of 4 within 25 km
    assert "| refused | 1 | 1 |" in md
    assert "| closest prediction | 2 | 2 |" in md
    assert "| gpt | llava | 4 | 50.0% |" in md
    assert "## Pairwise" in md

    rows = list(csv.DictReader(io.StringIO(comparison_csv(c))))
    got = {(r["section"], r["run"], r["other"], r["metric"]): r for r in rows}
    assert float(got["run", "gpt", "", "acc_km.25"]["value"]) == 0.25
    assert float(got["run", "llava", "", "coverage"]["value"]) == 0.75
    assert got["run", "gpt", "", "closest"]["value"] == "2"
    lo, hi = c.metrics["gpt"].ci95["acc_km.25"]
    assert float(got["run", "gpt", "", "acc_km.25"]["ci95_low"]) == pytest.approx(lo)
    assert float(got["run", "gpt", "", "acc_km.25"]["ci95_high"]) == pytest.approx(hi)
    assert got["run", "gpt", "", "country_acc"]["value"] == ""  # geography off
    pair = got["pair", "gpt", "llava", "win_rate"]
    assert float(pair["value"]) == pytest.approx(c.pairs[0].win_rate) == 0.5
    assert float(got["pair", "gpt", "llava", "median_diff_km"]["value"]) == pytest.approx(
        c.pairs[0].median_diff_km
    )


# -- external systems as CSV -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ext.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "header",
    [
        "id,lat,lon",
        "filename,latitude,longitude",
        "IMG_ID,LAT,LNG",
        "image,lat,long",
        "\ufeffid,lat,lon",
    ],
)
def test_external_csv_column_names(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, f"{header}\na.jpg,48.85,2.35\nb.jpg,-33.9,151.2\n")
    assert load_external_csv(path) == [("a.jpg", 48.85, 2.35), ("b.jpg", -33.9, 151.2)]


def test_external_csv_extra_columns_order_and_no_header(tmp_path: Path) -> None:
    path = write(tmp_path, "lng,score,lat,image_id\n2.35,0.9,48.85,a\n")
    assert load_external_csv(path) == [("a", 48.85, 2.35)]
    path = write(tmp_path, "a,48.85,2.35\nb,1,2\n")
    assert load_external_csv(path) == [("a", 48.85, 2.35), ("b", 1.0, 2.0)]
    path = write(tmp_path, "id;lat;lon\na;1.5;2.5\n")
    assert load_external_csv(path) == [("a", 1.5, 2.5)]


def test_external_csv_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    text = (
        "id,lat,lon\n"  # line 1
        "a,10,20\n"  # 2: fine
        "b,abc,20\n"  # 3: not a number
        "c,95,20\n"  # 4: out of range
        ",10,20\n"  # 5: empty id
        "\n"  # 6: blank, ignored
        "a,11,21\n"  # 7: repeated id
        "d,10\n"  # 8: too short
        "e,10,nan\n"  # 9: NaN
        "f,10,-181\n"  # 10: out of range
    )
    with pytest.raises(ExternalCSVError) as info:
        load_external_csv(write(tmp_path, text))
    assert [line for line, _ in info.value.problems] == [3, 4, 5, 7, 8, 9, 10]
    reasons = dict(info.value.problems)
    assert "latitude 'abc'" in reasons[3]
    assert "empty id" in reasons[5]
    assert "line 2" in reasons[7]
    assert "line 3: latitude" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_external_csv_without_usable_header(tmp_path: Path) -> None:
    with pytest.raises(ExternalCSVError, match="no id/lat/lon columns"):
        load_external_csv(write(tmp_path, "name,x,y,z\na,1,2,3\n"))
    with pytest.raises(ExternalCSVError, match="empty"):
        load_external_csv(write(tmp_path, ""))
