"""The shipped table of landmarks and natural features is consistent with the rest of the
gazetteer: every point lies in the country it is listed under, and a name means one feature
in a country."""

from __future__ import annotations

from collections import defaultdict

import pytest

from ethan.geocode.check import km_outside
from ethan.geocode.landmarks import KINDS, WATER_KINDS, Landmark, landmark_table

LAND_SLACK_KM = 10.0  # coarse country outlines: a point on a coast may fall just outside
WATER_SLACK_KM = 150.0  # a reef, bay or sound lies off the coast by nature


@pytest.fixture(scope="module")
def rows() -> list[Landmark]:
    return landmark_table().landmarks


def test_every_row_has_a_known_kind_and_real_countries(rows: list[Landmark]) -> None:
    from ethan.geocode.countries import country_table

    table = country_table()
    assert len(rows) > 300
    for row in rows:
        assert row.kind in KINDS, row
        for iso in row.countries:
            assert table.lookup(iso, fuzzy=False) == iso, (row.name, iso)


def test_every_point_lies_in_the_first_country_listed(rows: list[Landmark]) -> None:
    far = []
    for row in rows:
        slack = WATER_SLACK_KM if row.kind in WATER_KINDS else LAND_SLACK_KM
        out = km_outside(row.lat, row.lon, row.country)
        if out > slack:
            far.append(f"{row.name}: {out:.0f} km outside {row.country}")
    assert not far, far


def test_a_name_means_one_feature(rows: list[Landmark]) -> None:
    table = landmark_table()
    owners: dict[str, set[int]] = defaultdict(set)
    for key, found in table.keys().items():
        owners[key].update(found)
    shared = {k: sorted(rows[i].name for i in v) for k, v in owners.items() if len(v) > 1}
    # one name for two features is allowed only in different countries
    for key, names in shared.items():
        countries = [rows[i].country for i in owners[key]]
        assert len(set(countries)) == len(countries), (key, names)
