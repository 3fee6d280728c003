"""Retrieval candidates (--rag) and the verification pass (--verify), end to end over real
HTTP through the replay server, with a gallery built from the shared corpus itself."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ethan import Geolocator, Prediction, ResponseCache, Status
from ethan.baselines.embeddings import EmbeddingCache, create_encoder
from ethan.eval.datasets import load_dataset
from ethan.geocode import default_geocoder
from ethan.prompts import render_template
from ethan.rag import GalleryRetriever, Neighbour, build_gallery
from ethan.types import VerifyOption
from ethan.verify import gather_options, read_ranking
from tests.conftest import STREETVIEW, locate_all
from tests.replay_server import ReplayServer, VerifyReplies, prompt_text
from tests.test_hybrid import write_baseline

IMAGES = STREETVIEW / "images"
QUERIES = sorted(IMAGES.glob("*.jpg"))[:24]
K = 4
# "12.34°N, 5.67°W": how a place is written in the first prompt
POINT = re.compile(r"(\d+\.\d\d)°([NS]), (\d+\.\d\d)°([EW])")


def truth() -> dict[str, tuple[float, float]]:
    with (STREETVIEW / "truth.csv").open(newline="", encoding="utf-8") as fh:
        return {r["filename"]: (float(r["lat"]), float(r["lng"])) for r in csv.DictReader(fh)}


def written(lat: float, lon: float) -> str:
    return f"{abs(lat):.2f}°{'N' if lat >= 0 else 'S'}, {abs(lon):.2f}°{'E' if lon >= 0 else 'W'}"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 200 corpus photos with their true places, embedded by the random encoder."""
    folder = tmp_path_factory.mktemp("gallery")
    dataset = load_dataset(STREETVIEW / "truth.csv", images_root=IMAGES)
    cache = EmbeddingCache(folder / "embeddings.sqlite")
    report = build_gallery(
        dataset, create_encoder("random"), folder / "g", encoder_spec="random", cache=cache
    )
    cache.close()
    assert report.count == 200 and not report.skipped
    return folder / "g"


def geolocator(server: ReplayServer, **options: Any) -> Geolocator:
    return Geolocator(
        "openai", model="gpt-4o", backend_options={"base_url": server.base_url}, **options
    )


def sent(server: ReplayServer) -> list[tuple[str, str]]:
    """(matched image, prompt text) of every request the server answered, in order."""
    out = []
    for request in server.requests:
        body = json.loads(request.body)
        parts = [
            p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]
        ]
        url = [p for p in parts if p.get("type") == "image_url"][-1]["image_url"]["url"]
        image = base64.b64decode(url.split(",", 1)[1])
        out.append((server.corpus.match(image), prompt_text(body)))
    return out


def test_every_template_renders_the_retrieval_lists() -> None:
    near = [Neighbour(lat=48.8566, lon=2.3522, name="Paris, France", similarity=0.91)]
    far = [Neighbour(lat=-33.87, lon=151.21, similarity=0.02)]
    for name in ("gps", "cot", "multi", "candidates"):
        text = render_template(name, variables={"rag_neighbours": near, "rag_negatives": far})
        assert "Paris, France (48.86°N, 2.35°E), similarity 0.91" in text
        assert "probably not taken near" in text and "33.87°S, 151.21°E" in text
        bare = render_template(name)
        assert "gallery" not in bare and "probably not" not in bare
    hybrid = render_template("candidates", variables={"rag_neighbours": near})
    assert "No classifier candidates" in hybrid and "clues alone" not in hybrid


def test_rag_prompts_carry_k_neighbours_and_never_the_own_truth(
    server: ReplayServer, gallery: Path
) -> None:
    retriever = GalleryRetriever(gallery, k=K, negatives=2, cache=False)
    predictions = locate_all(geolocator(server, retriever=retriever, cache=False), QUERIES)
    assert len(predictions) == len(QUERIES) and sum(p.ok for p in predictions) >= 20
    places = truth()
    requests = sent(server)
    assert sorted(name for name, _ in requests) == sorted(p.name for p in QUERIES)
    for name, text in requests:
        listed = text.split("were taken at these places", 1)[1]
        near = listed.split("least like this one")[0]
        assert len(POINT.findall(near)) >= K
        assert len(POINT.findall(listed)) >= K + 2
        assert written(*places[name]) not in text  # excluded by its own hash


def test_without_the_exclusion_each_photo_finds_itself(server: ReplayServer, gallery: Path) -> None:
    """The control: the own-hash exclusion is what keeps the truth out of the prompts."""
    retriever = GalleryRetriever(gallery, k=K, cache=False, exclude_self=False)
    locate_all(geolocator(server, retriever=retriever, cache=False), QUERIES[:6])
    places = truth()
    for name, text in sent(server):
        assert f"{written(*places[name])}), similarity 1.00" in text


def test_verify_lists_the_candidates_and_takes_the_second_answers_choice(
    server: ReplayServer, gallery: Path
) -> None:
    replies = VerifyReplies()
    server.reply = replies
    retriever = GalleryRetriever(gallery, k=3, cache=False)
    geo = geolocator(server, retriever=retriever, verify=True, cache=False)
    predictions = locate_all(geo, QUERIES[:12])
    by_name = {Path(p.image).name: p for p in predictions}
    requests = sent(server)
    assert Counter(name for name, _ in requests) == {p.name: 2 for p in QUERIES[:12]}
    chosen = {c["image"]: c for c in replies.choices}
    assert set(chosen) == set(by_name)
    places = truth()
    for name, prediction in by_name.items():
        check = prediction.verification
        assert check is not None and check.status is Status.OK, check
        options = check.options
        assert len(options) >= 2
        # every option was listed with its coordinates, in order
        listed = chosen[name]["listed"]
        assert [(round(o.lat, 3), round(o.lon, 3)) for o in options] == [
            (pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3)) for a, b in listed
        ]
        # the first pass's own hypotheses come first (when it had any), then retrieved places
        if prediction.hypotheses:
            assert options[0].origin == "answer"
            assert (options[0].lat, options[0].lon) == (
                prediction.hypotheses[0].lat, prediction.hypotheses[0].lon,
            )  # fmt: skip
        assert options[-1].origin == "retrieved" and {o.origin for o in options} <= {
            "answer", "retrieved",
        }  # fmt: skip
        assert prediction.status is Status.OK  # even where the first pass found nothing
        # the final point is the candidate the second answer ranked first by probability
        pick = chosen[name]["pick"] - 1
        assert check.chosen == pick
        assert (prediction.lat, prediction.lon) == (options[pick].lat, options[pick].lon)
        if prediction.hypotheses:
            assert check.first_lat in [h.lat for h in prediction.hypotheses]  # the medoid
        else:  # the first pass gave no place; the second one did
            assert check.first_lat is None and "first pass" in prediction.message
        assert prediction.usage.total_tokens > check.usage.total_tokens > 0
        assert prediction.raw and check.raw.startswith("Checked every candidate")
        assert written(*places[name]) not in check.raw
        assert Prediction.model_validate_json(prediction.to_json_line()) == prediction
    second = [text for _, text in requests if "Look again at the attached photo" in text]
    assert len(second) == 12 and all("1. " in t and "2. " in t for t in second)


def test_verify_runs_only_with_two_distinct_candidates(
    server: ReplayServer, tmp_path: Path
) -> None:
    """Without retrieval most recorded answers give one place (three identical samples
    deduplicate to it): no second request; a baseline's candidates make two or more."""
    server.reply = VerifyReplies()
    images = QUERIES[:10]
    predictions = locate_all(geolocator(server, verify=True, cache=False, samples=3), images)
    counts = Counter(name for name, _ in sent(server))
    for p in predictions:
        distinct = gather_options(p.model_copy(update={"verification": None}))
        expected = 2 if (p.verification is not None) else 1
        assert counts[Path(p.image).name] == expected
        assert (p.verification is not None) == (len(distinct) >= 2)
    assert sum(p.verification is None for p in predictions) >= 5
    server.requests.clear()
    from ethan.baselines.candidates import load_candidates

    found = load_candidates(write_baseline(tmp_path / "b.jsonl", images))
    geo = geolocator(server, verify=True, cache=False, candidates=found)
    predictions = locate_all(geo, images)
    assert len(server.requests) == 20
    for p in predictions:
        assert p.verification is not None
        assert "candidate" in {o.origin for o in p.verification.options}


def test_verify_is_cached_and_an_unreadable_second_answer_keeps_the_first(
    server: ReplayServer, gallery: Path, tmp_path: Path
) -> None:
    server.reply = VerifyReplies()
    cache = tmp_path / "responses.sqlite"
    options = {"retriever": GalleryRetriever(gallery, k=2, cache=False), "verify": True}
    first = locate_all(geolocator(server, cache=ResponseCache(cache), **options), QUERIES[:4])
    assert len(server.requests) == 8
    again = locate_all(geolocator(server, cache=ResponseCache(cache), **options), QUERIES[:4])
    assert len(server.requests) == 8  # both passes came from the cache
    before = {p.image: (p.lat, p.lon) for p in first}
    assert {p.image: (p.lat, p.lon) for p in again} == before
    assert all(p.verification and p.verification.status is Status.OK for p in first)
    first_pass = {p.image: (p.verification.first_lat, p.verification.first_lon)
                  for p in first if p.verification}  # fmt: skip
    assert all(p.cached and p.verification and p.verification.cached for p in again)

    server.reply = lambda request, image: (
        "I cannot decide." if "Look again" in prompt_text(request) else None
    )
    unread = locate_all(geolocator(server, cache=False, **options), QUERIES[:4])
    for p in unread:
        assert p.verification is not None and p.verification.status is Status.UNPARSED
        assert (p.lat, p.lon) == (p.verification.first_lat, p.verification.first_lon)
        assert (p.lat, p.lon) == first_pass[p.image]


OPTIONS = [
    VerifyOption(lat=48.8566, lon=2.3522, name="Paris", origin="answer"),
    VerifyOption(lat=52.52, lon=13.405, name="Berlin", origin="retrieved"),
    VerifyOption(lat=41.9, lon=12.5, origin="retrieved"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"ranking": [{"candidate": 2, "probability": 0.7}, {"candidate": 1}]}', [1, 0]),
        (
            '{"ranking": [{"candidate": 3, "probability": 0.2}, {"candidate": "#2", '
            '"probability": "70%"}]}',
            [1, 2],
        ),
        ('```json\n{"ranking": [3, 1]}\n```', [2, 0]),
        ('{"ranking": [{"candidate": 9}, {"candidate": 1}, {"candidate": 1}]}', [0]),
        ('{"ranked": [{"option": "candidate 3", "confidence": 0.9}]}', [2]),
        # no ranking: the answer's own guess, matched to the option within 1 km
        ('{"guesses": [{"lat": 52.5201, "lon": 13.4049}]}', [1]),
    ],
)
def test_read_ranking_is_tolerant(text: str, expected: list[int]) -> None:
    status, _, ranking = read_ranking(text, OPTIONS, default_geocoder())
    assert status is Status.OK
    assert [c.option for c in ranking] == expected
    assert (ranking[0].lat, ranking[0].lon) == (OPTIONS[expected[0]].lat, OPTIONS[expected[0]].lon)


def test_read_ranking_new_places_and_failures() -> None:
    geocoder = default_geocoder()
    text = '{"ranking": [{"candidate": null, "lat": -33.87, "lon": 151.21, "probability": 0.8}]}'
    status, _, ranking = read_ranking(text, OPTIONS, geocoder)
    assert status is Status.OK and ranking[0].option is None
    assert (ranking[0].lat, ranking[0].lon) == (-33.87, 151.21)
    named = '{"ranking": [{"candidate": null, "city": "Madrid", "country": "Spain"}]}'
    status, _, ranking = read_ranking(named, OPTIONS, geocoder)
    assert status is Status.OK and ranking[0].option is None
    assert ranking[0].lat == pytest.approx(40.4, abs=0.2)
    for bad in ('{"ranking": [{"candidate": 7}]}', "no idea", ""):
        status, message, ranking = read_ranking(bad, OPTIONS, geocoder)
        assert status is Status.UNPARSED and ranking == [] and message
    status, _, _ = read_ranking("I'm sorry, I can't help with locating this photo.", OPTIONS,
                                geocoder)  # fmt: skip
    assert status is Status.REFUSED


def test_options_are_distinct_within_a_kilometre() -> None:
    from ethan.baselines.candidates import Candidate
    from ethan.rag import Retrieved
    from ethan.types import Hypothesis, PointSource

    first = Prediction(
        image="a.jpg", status=Status.OK, lat=48.8566, lon=2.3522,
        hypotheses=[Hypothesis(lat=48.8566, lon=2.3522, source=PointSource.STATED, city="Paris"),
                    Hypothesis(lat=48.86, lon=2.35, source=PointSource.STATED, sample=1)],
    )  # fmt: skip
    retrieved = Retrieved(
        neighbours=[Neighbour(lat=48.855, lon=2.353), Neighbour(lat=45.76, lon=4.83, name="Lyon")]
    )
    given = [Candidate(lat=52.52, lon=13.405, probability=0.4)]
    options = gather_options(first, given, retrieved)
    assert [(o.origin, o.name) for o in options] == [
        ("answer", "Paris"), ("candidate", None), ("retrieved", "Lyon"),
    ]  # fmt: skip
    assert len(gather_options(first, given, retrieved, limit=2)) == 2


def test_own_photo_in_the_gallery_is_excluded_by_file_hash(gallery: Path) -> None:
    retriever = GalleryRetriever(gallery, k=5, negatives=5, cache=False)
    image = QUERIES[0]
    from ethan.images import prepare_image

    prepared = prepare_image(image)
    found = retriever.retrieve(prepared, image)
    also = retriever.retrieve(prepared, image.read_bytes())  # a downloaded copy: same hash
    assert found == also and len(found.neighbours) == 5 and len(found.negatives) == 5
    own = truth()[image.name]
    assert all((n.lat, n.lon) != own for n in found.neighbours + found.negatives)
    assert all(n.name for n in found.neighbours)  # manifest names (city, country)


def test_retriever_refuses_a_different_encoder_and_bad_counts(gallery: Path) -> None:
    from ethan.errors import ConfigError

    with pytest.raises(ConfigError, match="not comparable"):
        GalleryRetriever(gallery, encoder=create_encoder("random:64:1"), cache=False)
    with pytest.raises(ConfigError, match="at least 1"):
        GalleryRetriever(gallery, k=0, cache=False)
    with pytest.raises(ConfigError, match="not a gallery"):
        GalleryRetriever(gallery.parent, cache=False)
    described = GalleryRetriever(gallery, k=3, negatives=1, cache=False).describe()
    assert described == {
        "gallery": str(gallery), "k": 3, "negatives": 1, "encoder": "random:64:0:96",
        "count": 200, "search": "exact", "exclude_self": True,
    }  # fmt: skip


def test_both_passes_are_budgeted(server: ReplayServer, gallery: Path) -> None:
    from ethan.budget import Budget, BudgetExceededError

    server.reply = VerifyReplies()
    retriever = GalleryRetriever(gallery, k=2, cache=False)
    budget = Budget()
    geo = geolocator(server, retriever=retriever, verify=True, cache=False, budget=budget)
    predictions = locate_all(geo, QUERIES[:4])
    assert budget.requests == 8 == len(server.requests)
    assert budget.usage == sum((p.usage for p in predictions[1:]), predictions[0].usage)

    server.requests.clear()
    limited = Budget(max_requests=3)
    geo = geolocator(server, retriever=retriever, verify=True, cache=False, budget=limited)
    done: list[Prediction] = []

    async def run() -> None:
        try:
            async for p in geo.locate_many(QUERIES[:4], concurrency=1):
                done.append(p)
        finally:
            await geo.aclose()

    with pytest.raises(BudgetExceededError):
        asyncio.run(run())
    # the first image got both passes; the second's verification was refused by the budget
    assert len(server.requests) == 3 and len(done) == 1 and done[0].verification is not None


def test_rag_and_verify_from_the_command_line_and_the_run_spec(
    server: ReplayServer, gallery: Path, tmp_path: Path
) -> None:
    """``ethan eval --rag G --rag-k 4 --verify``: the flags come from the run specification,
    the saved run.yaml records them, and every request carries the neighbours."""
    from tests.conftest import run_ethan

    server.reply = VerifyReplies()
    out = tmp_path / "run"
    run = run_ethan(
        "eval", str(STREETVIEW / "truth.csv"), "--images-root", str(IMAGES), "--limit", "6",
        "--base-url", server.base_url, "--model", "gpt-4o", "--rag", str(gallery),
        "--rag-k", str(K), "--verify", "--out", str(out), "--bootstrap", "20", "--no-cache",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    import yaml

    spec = yaml.safe_load((out / "run.yaml").read_text(encoding="utf-8"))
    assert spec["retrieval"] == {
        "rag": str(gallery), "rag_k": K, "rag_negatives": 0, "verify": True
    }  # fmt: skip
    first = [text for _, text in sent(server) if "Look again at the attached photo" not in text]
    assert len(first) == 6
    assert all(len(POINT.findall(text)) >= K for text in first)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    checked = [r for r in rows if r["verification"] is not None]
    assert checked and len(server.requests) == 6 + len(checked)
