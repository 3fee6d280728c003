"""Spot checks of the offline gazetteer: famous cities, countries in other languages,
first-level regions, landmarks, ambiguous names with context, broad-area points."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethan.geo import haversine_km
from ethan.geocode import Gazetteer, Resolved
from ethan.types import Guess


@pytest.fixture(scope="module")
def gaz(tmp_path_factory: pytest.TempPathFactory) -> Gazetteer:
    return Gazetteer(cache_dir=tmp_path_factory.mktemp("gazetteer"))


def within(hit: Resolved | None, lat: float, lon: float, km: float) -> Resolved:
    assert hit is not None
    d = haversine_km(hit.lat, hit.lon, lat, lon)
    assert d <= km, f"{hit.name} is {d:.0f} km from ({lat}, {lon})"
    return hit


# 30 famous cities, each within 15 km of its centre
CITIES = [
    ("Tokyo", 35.69, 139.69),
    ("Delhi", 28.65, 77.23),
    ("Shanghai", 31.22, 121.46),
    ("São Paulo", -23.55, -46.63),
    ("Mexico City", 19.43, -99.13),
    ("Cairo", 30.04, 31.24),
    ("Mumbai", 19.08, 72.88),
    ("Beijing", 39.91, 116.40),
    ("Dhaka", 23.81, 90.41),
    ("Osaka", 34.69, 135.50),
    ("New York City", 40.71, -74.01),
    ("Karachi", 24.86, 67.01),
    ("Buenos Aires", -34.60, -58.38),
    ("Istanbul", 41.01, 28.98),
    ("Kolkata", 22.57, 88.36),
    ("Lagos", 6.45, 3.39),
    ("Manila", 14.60, 120.98),
    ("Rio de Janeiro", -22.91, -43.17),
    ("Moscow", 55.76, 37.62),
    ("Los Angeles", 34.05, -118.24),
    ("Paris", 48.86, 2.35),
    ("London", 51.51, -0.13),
    ("Bangkok", 13.75, 100.50),
    ("Jakarta", -6.21, 106.85),
    ("Seoul", 37.57, 126.98),
    ("Lima", -12.05, -77.04),
    ("Sydney", -33.87, 151.21),
    ("Nairobi", -1.29, 36.82),
    ("Berlin", 52.52, 13.40),
    ("Reykjavík", 64.15, -21.94),
]


@pytest.mark.parametrize(("name", "lat", "lon"), CITIES)
def test_famous_cities(gaz: Gazetteer, name: str, lat: float, lon: float) -> None:
    hit = within(gaz.search(name), lat, lon, 15)
    assert hit.level == "city"


# 20 countries written in other languages (or as endonyms)
FOREIGN = [
    ("Deutschland", "DE"),
    ("Allemagne", "DE"),
    ("Alemania", "DE"),
    ("Niemcy", "DE"),
    ("España", "ES"),
    ("Espagne", "ES"),
    ("Italia", "IT"),
    ("Brasil", "BR"),
    ("Japón", "JP"),
    ("Nederland", "NL"),
    ("Holland", "NL"),
    ("Österreich", "AT"),
    ("Schweiz", "CH"),
    ("Suisse", "CH"),
    ("Polska", "PL"),
    ("Sverige", "SE"),
    ("Türkiye", "TR"),
    ("Côte d'Ivoire", "CI"),
    ("États-Unis", "US"),
    ("Royaume-Uni", "GB"),
]


@pytest.mark.parametrize(("name", "iso"), FOREIGN)
def test_countries_in_other_languages(gaz: Gazetteer, name: str, iso: str) -> None:
    hit = gaz.search(name)
    assert hit is not None and hit.level == "country" and hit.country_code == iso
    assert gaz.resolve(Guess(country=name)) == hit


# 10 first-level regions, each point within 250 km of the region's main city or centre
REGIONS = [
    (Guess(region="Bavaria", country="Germany"), "DE", 48.5, 11.5, 150),
    (Guess(region="Bayern"), "DE", 48.5, 11.5, 150),
    (Guess(region="Ontario", country="Canada"), "CA", 43.7, -79.4, 250),
    (Guess(region="Queensland", country="Australia"), "AU", -27.5, 153.0, 250),
    (Guess(region="NSW", country="Australia"), "AU", -33.9, 151.2, 250),
    (Guess(region="Tuscany", country="Italy"), "IT", 43.5, 11.2, 100),
    (Guess(region="Andalusia", country="Spain"), "ES", 37.4, -5.0, 200),
    (Guess(region="Rio Grande do Sul", country="Brazil"), "BR", -30.0, -51.2, 250),
    (Guess(region="Hokkaido", country="Japan"), "JP", 43.1, 141.4, 200),
    (Guess(region="Texas"), "US", 31.0, -97.5, 400),
]


@pytest.mark.parametrize(("guess", "iso", "lat", "lon", "km"), REGIONS)
def test_regions(gaz: Gazetteer, guess: Guess, iso: str, lat: float, lon: float, km: float) -> None:
    hit = within(gaz.resolve(guess), lat, lon, km)
    assert hit.level == "region" and hit.country_code == iso


# 10 landmarks and natural features, each within 5 km of the real one
LANDMARKS = [
    ("Eiffel Tower", 48.858, 2.294),
    ("Lake Titicaca", -15.84, -69.34),
    ("Mount Everest", 27.988, 86.925),
    ("Grand Canyon", 36.107, -112.113),
    ("Sagrada Familia", 41.404, 2.174),
    ("Statue of Liberty", 40.689, -74.045),
    ("Machu Picchu", -13.163, -72.545),
    ("Taj Mahal", 27.175, 78.042),
    ("Sydney Opera House", -33.857, 151.215),
    ("Christ the Redeemer", -22.952, -43.211),
]


@pytest.mark.parametrize(("name", "lat", "lon"), LANDMARKS)
def test_landmarks(gaz: Gazetteer, name: str, lat: float, lon: float) -> None:
    hit = within(gaz.search(name), lat, lon, 5)
    assert hit.level == "landmark"
    assert within(gaz.resolve(Guess(place=name)), lat, lon, 5).level == "landmark"


def test_landmark_spellings_and_context(gaz: Gazetteer) -> None:
    within(gaz.search("Tour Eiffel"), 48.858, 2.294, 5)
    within(gaz.search("Sagrada Famlia"), 41.404, 2.174, 5)  # a typo
    within(gaz.resolve(Guess(place="Lake Titicaca", country="Bolivia")), -15.84, -69.34, 5)
    # a landmark in another country than the stated one is not taken
    hit = gaz.resolve(Guess(place="Eiffel Tower", country="Japan"))
    assert hit is not None and hit.level == "country"
    # nor one far from the stated city ("Eiffel Tower" replicas: Las Vegas)
    hit = gaz.resolve(Guess(place="Eiffel Tower", city="Las Vegas", country="USA"))
    assert hit is not None and hit.level == "city" and hit.country_code == "US"
    assert Gazetteer(landmarks=False, cache_dir=gaz._cache_dir).search("Eiffel Tower") is None


# 10 ambiguous names, told apart by their context
AMBIGUOUS = [
    ("Paris, Texas", 33.66, -95.56, 10),
    ("Paris, France", 48.86, 2.35, 10),
    ("Springfield, Illinois", 39.80, -89.64, 10),
    ("Springfield, Massachusetts", 42.10, -72.59, 10),
    ("Victoria, Australia", -37.8, 145.0, 150),  # the state
    ("Victoria, BC", 48.43, -123.37, 10),  # the city in British Columbia
    ("Cambridge, UK", 52.20, 0.12, 10),
    ("Cambridge, Massachusetts", 42.37, -71.11, 10),
    ("Córdoba, Argentina", -31.41, -64.18, 10),
    ("Córdoba, Spain", 37.88, -4.78, 10),
]


@pytest.mark.parametrize(("query", "lat", "lon", "km"), AMBIGUOUS)
def test_ambiguous_names_with_context(
    gaz: Gazetteer, query: str, lat: float, lon: float, km: float
) -> None:
    within(gaz.search(query), lat, lon, km)


def test_broad_points_medoid_or_centroid(gaz: Gazetteer) -> None:
    centroid = Gazetteer(broad="centroid", cache_dir=gaz._cache_dir)
    # Australia: the medoid is where people live (the south-east), the centroid inland
    med = within(gaz.search("Australia"), -34.0, 150.0, 600)
    cen = within(centroid.search("Australia"), -25.0, 134.0, 500)
    assert med.level == cen.level == "country"
    # Canada's medoid lies near the US border, its centroid far north
    assert gaz.search("Canada").lat < 50 < centroid.search("Canada").lat  # type: ignore[union-attr]
    # cities are the same either way
    assert gaz.search("Lyon") == centroid.search("Lyon")
    with pytest.raises(ValueError, match="broad"):
        Gazetteer(broad="middle")  # type: ignore[arg-type]


def test_min_city_population_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_city_population"):
        Gazetteer(min_city_population=7, cache_dir=tmp_path).search("Paris")
