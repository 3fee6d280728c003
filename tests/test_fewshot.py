from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from ethan.errors import TemplateError
from ethan.fewshot import Exemplar, FewshotSet, list_fewshot_sets, load_fewshot_set
from ethan.resources import data_dir
from ethan.types import ModelAnswer

# real places named in the shipped set: (lat, lon)
KNOWN = {
    "Berdychiv": (49.899, 28.602),
    "Chudniv": (50.052, 28.110),
    "Bangkok": (13.756, 100.502),
    "Nonthaburi": (13.862, 100.514),
    "Samut Prakan": (13.599, 100.597),
    "Curitiba": (-25.428, -49.273),
    "São José dos Pinhais": (-25.535, -49.206),
    "Lages": (-27.816, -50.326),
}


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def write_set(folder: Path, name: str, exemplars: list[dict[str, object]]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"description": "test set", "exemplars": exemplars}))
    return path


def text_exemplar(id_: str = "one", **changes: object) -> dict[str, object]:
    exemplar: dict[str, object] = {
        "id": id_,
        "scene": "a dusty road",
        "reasoning": "1. Clues ...",
        "answer": {"guesses": [{"country": "Chad", "lat": 12.1, "lon": 15.0}]},
    }
    exemplar.update(changes)
    return exemplar


# --------------------------------------------------------------------------- shipped set


@pytest.fixture(scope="module")
def default() -> FewshotSet:
    return load_fewshot_set("default")


def test_default_set_shape(default: FewshotSet) -> None:
    assert default.name == "default"
    assert default.path == (data_dir("fewshot") / "default.yaml").resolve()
    assert default.description
    assert len(default.exemplars) == 3
    assert len({e.id for e in default.exemplars}) == 3
    for exemplar in default.exemplars:
        assert exemplar.image is None and exemplar.scene and len(exemplar.scene) > 200
        assert isinstance(exemplar.answer, ModelAnswer)
        assert exemplar.answer.reasoning and len(exemplar.answer.clues) >= 3


def test_default_set_is_varied(default: FewshotSet) -> None:
    continents = {e.answer.guesses[0].continent for e in default.exemplars}
    countries = {e.answer.guesses[0].country_code for e in default.exemplars}
    assert len(continents) == 3 and len(countries) == 3
    categories = {c.category for e in default.exemplars for c in e.answer.clues}
    assert len(categories) >= 5


@pytest.mark.parametrize("index", [0, 1, 2])
def test_default_reasoning_follows_the_chain(default: FewshotSet, index: int) -> None:
    reasoning = default.exemplars[index].reasoning
    steps = ["Clues", "Constraints", "Continent", "Country", "Region", "City", "Coordinates"]
    positions = [reasoning.index(f"{n}. {step}") for n, step in enumerate(steps, start=1)]
    assert positions == sorted(positions)
    assert "8. Uncertainty" in reasoning
    # the probabilities quoted in the chain are the answer's
    quoted = [float(x) for x in re.findall(r": (0\.\d+)\s*$", reasoning, re.MULTILINE)]
    answer = [g.probability for g in default.exemplars[index].answer.guesses]
    assert quoted == answer


@pytest.mark.parametrize("index", [0, 1, 2])
def test_default_answers_are_well_formed(default: FewshotSet, index: int) -> None:
    guesses = default.exemplars[index].answer.guesses
    assert len(guesses) == 3
    assert all(g.probability is not None for g in guesses)
    probabilities = [g.probability or 0.0 for g in guesses]
    assert all(0 < p < 1 for p in probabilities)
    assert sum(probabilities) <= 1.0 + 1e-9
    assert probabilities == sorted(probabilities, reverse=True)  # best first
    for guess in guesses:
        assert guess.continent and guess.country and guess.region and guess.city
        assert guess.country_code and re.fullmatch(r"[A-Z]{2}", guess.country_code)
        assert guess.has_point()
        assert guess.lat is not None and guess.lon is not None
        assert round(guess.lat, 2) == guess.lat and round(guess.lon, 2) == guess.lon


def test_default_coordinates_match_the_named_places(default: FewshotSet) -> None:
    limits = {"Berdychiv": 30.0, "Chudniv": 30.0}  # rural roads some way out of town
    for exemplar in default.exemplars:
        for guess in exemplar.answer.guesses:
            assert guess.city in KNOWN, guess.city
            assert guess.lat is not None and guess.lon is not None
            distance = km((guess.lat, guess.lon), KNOWN[guess.city])
            assert distance <= limits.get(guess.city, 12.0), (guess.city, distance)


def test_reply_ends_with_the_answer_as_fenced_json(default: FewshotSet) -> None:
    for exemplar in default.exemplars:
        reply = exemplar.reply()
        match = re.fullmatch(r"(.*)\n\n```json\n(.*)\n```", reply, re.DOTALL)
        assert match
        assert match.group(1) == exemplar.reasoning.strip()
        data = json.loads(match.group(2))
        assert list(data) == list(ModelAnswer.model_fields)
        assert ModelAnswer.model_validate(data) == exemplar.answer


def test_scene_text_stands_in_for_the_photo(default: FewshotSet) -> None:
    exemplar = default.exemplars[0]
    text = exemplar.scene_text()
    assert "No photo" in text and (exemplar.scene or "").strip() in text


def test_list_fewshot_sets() -> None:
    names = [s.name for s in list_fewshot_sets()]
    assert "default" in names


# --------------------------------------------------------------------------- loading


def test_load_by_path_and_by_name_from_user_dir(tmp_path: Path) -> None:
    path = write_set(tmp_path, "mine", [text_exemplar("a"), text_exemplar("b")])
    by_path = load_fewshot_set(path)
    assert by_path.name == "mine" and len(by_path.exemplars) == 2
    assert load_fewshot_set(str(path)) == by_path
    assert load_fewshot_set("mine", extra_dirs=[tmp_path]) == by_path
    names = [s.name for s in list_fewshot_sets([tmp_path])]
    assert names == sorted(names) and {"default", "mine"} <= set(names)


def test_user_set_shadows_shipped(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text(
        "description: mine\nexemplars:\n"
        "  - id: x\n    scene: s\n    reasoning: r\n    answer: {guesses: [{country: Peru}]}\n"
    )
    loaded = load_fewshot_set("default", extra_dirs=[tmp_path])
    assert loaded.description == "mine" and len(loaded.exemplars) == 1


def test_image_path_is_relative_to_the_set(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.jpg").write_bytes(b"not checked here")
    path = write_set(tmp_path, "imgs", [text_exemplar(image="pics/a.jpg", scene=None)])
    exemplar = load_fewshot_set(path).exemplars[0]
    assert exemplar.image == (tmp_path / "pics" / "a.jpg").resolve()


def test_edits_are_picked_up(tmp_path: Path) -> None:
    path = write_set(tmp_path, "live", [text_exemplar("a")])
    assert len(load_fewshot_set(path).exemplars) == 1
    write_set(tmp_path, "live", [text_exemplar("a"), text_exemplar("b")])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert len(load_fewshot_set(path).exemplars) == 2


@pytest.mark.parametrize(
    ("exemplars", "message"),
    [
        ([text_exemplar(image="missing.jpg")], "not found"),
        ([text_exemplar(scene=None)], "needs an image or a scene"),
        ([text_exemplar(scene="   ")], "needs an image or a scene"),
        ([text_exemplar(answer={"guesses": [{"lat": 200}]})], "lat"),
        ([text_exemplar(reasoning="")], "reasoning"),
        ([text_exemplar(surprise=1)], "surprise"),
        ([text_exemplar("a"), text_exemplar("a")], "duplicate example ids: a"),
        ([], "exemplars"),
    ],
)
def test_invalid_sets(tmp_path: Path, exemplars: list[dict[str, object]], message: str) -> None:
    path = write_set(tmp_path, "bad", exemplars)
    with pytest.raises(TemplateError, match=message):
        load_fewshot_set(path)


def test_unreadable_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("exemplars: [unclosed\n")
    with pytest.raises(TemplateError, match="cannot read"):
        load_fewshot_set(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(TemplateError, match="mapping"):
        load_fewshot_set(scalar)


def test_unknown_set() -> None:
    with pytest.raises(TemplateError, match=r"unknown few-shot set 'nope'; available: .*default"):
        load_fewshot_set("nope")
    with pytest.raises(TemplateError, match="not found"):
        load_fewshot_set("nowhere/set.yaml")


def test_exemplar_model_directly() -> None:
    exemplar = Exemplar.model_validate(text_exemplar())
    assert exemplar.answer.guesses[0].country == "Chad"
    assert exemplar.reply().endswith("```")
