from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from ethan import resources
from ethan.backends.base import ImagePart, Message, TextPart
from ethan.errors import ConfigError, TemplateError
from ethan.fewshot import load_fewshot_set
from ethan.images import prepare_image
from ethan.prompts import (
    DEFAULT_TOP_K,
    TemplateInfo,
    build_messages,
    list_templates,
    output_contract,
    render_template,
)
from ethan.resources import data_dir
from ethan.types import Clue, ClueCategory, Guess, ModelAnswer

SHIPPED = ("gps", "cot", "multi")


def fake_image(payload: bytes = b"jpeg bytes") -> ImagePart:
    return ImagePart(data=payload, sha256=hashlib.sha256(payload).hexdigest())


def texts(message: Message) -> list[str]:
    return [part.text for part in message.content if isinstance(part, TextPart)]


def images_in(message: Message) -> list[ImagePart]:
    return [part for part in message.content if isinstance(part, ImagePart)]


# --------------------------------------------------------------------------- data folders


def test_data_dir_source_tree() -> None:
    assert (data_dir("prompts") / "gps.j2").is_file()
    assert (data_dir("fewshot") / "default.yaml").is_file()


def test_data_dir_prefers_the_installed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "ethan"
    (package / "_data" / "prompts").mkdir(parents=True)
    (tmp_path / "site" / "fewshot").mkdir()
    monkeypatch.setattr(resources, "__file__", str(package / "resources.py"))
    assert data_dir("prompts") == package / "_data" / "prompts"
    assert data_dir("fewshot") == tmp_path / "site" / "fewshot"  # the source-tree fallback
    (tmp_path / "site" / "fewshot").rmdir()
    with pytest.raises(ConfigError, match="'fewshot' data folder is missing"):
        data_dir("fewshot")


# --------------------------------------------------------------------------- contract


def test_contract_lists_every_schema_field() -> None:
    contract = output_contract(3)
    for model in (ModelAnswer, Clue, Guess):
        for name in model.model_fields:
            assert f'"{name}"' in contract, name
    for category in ClueCategory:
        assert f'"{category.value}"' in contract


def test_contract_carries_schema_details() -> None:
    contract = output_contract(4)
    assert "1 to 4" in contract
    assert "ISO 3166-1 alpha-2" in contract  # a field description from the schema
    assert "from -90 to 90" in contract and "from -180 to 180" in contract
    assert "from 0 to 1" in contract
    assert "decimal degrees" in contract
    assert "at most 1" in contract  # probabilities
    # keys appear in the schema's order: reasoning first, then clues, then guesses
    assert contract.index('"reasoning"') < contract.index('"clues"') < contract.index('"guesses"')


def test_contract_follows_top_k() -> None:
    assert "1 to 5" in output_contract(5)
    assert "1 to 5" in render_template("gps", variables={"top_k": 5})
    assert "1 to 3" in render_template("gps")


# --------------------------------------------------------------------------- shipped templates


def test_shipped_templates_are_listed_with_descriptions() -> None:
    listed = {info.name: info for info in list_templates()}
    for name in SHIPPED:
        assert name in listed
        info = listed[name]
        assert isinstance(info, TemplateInfo)
        assert info.path == data_dir("prompts") / f"{name}.j2"
        assert len(info.description) > 10
    assert "system" not in listed
    assert not any(name.endswith(".system") for name in listed)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_template_renders_with_contract(name: str) -> None:
    text = render_template(name)
    assert output_contract(DEFAULT_TOP_K) in text
    assert "```json" in text
    assert "exactly one JSON object" in text
    assert "decimal degrees" in text
    assert "{{" not in text and "{#" not in text and "description:" not in text
    assert not text.startswith("\n")
    assert render_template(f"{name}.j2") == text


def test_gps_template_goes_broad_regional_specific() -> None:
    text = render_template("gps").lower()
    assert "geoguessr" in text and "expert" in text
    order = ["broad", "regional", "specific"]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    for cue in (
        "architecture",
        "terrain",
        "script",
        "cultural",
        "flora",
        "plates",
        "bollards",
        "which side traffic",
        "utility poles",
        "landmarks",
        "street names",
        "area codes",
    ):
        assert cue in text, cue
    assert text.index("specific indicators") < text.index("explain your conclusion")


def test_cot_template_has_the_eight_steps_in_order() -> None:
    text = render_template("cot")
    steps = [
        "1. Clue extraction",
        "2. Constraints",
        "3. Continent",
        "4. Country",
        "5. Region",
        "6. City",
        "7. Coordinates",
        "8. Uncertainty",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "alternatives" in text


def test_multi_template_asks_for_top_k_ranked_hypotheses() -> None:
    text = render_template("multi")
    assert "exactly 3 distinct hypotheses" in text
    assert "ranked" in text and "probabilit" in text and "at most 1" in text
    assert "exactly 7 distinct hypotheses" in render_template("multi", variables={"top_k": 7})


def test_candidates_render_only_when_given() -> None:
    assert "Candidate locations" not in render_template("gps")
    text = render_template("cot", variables={"candidates": ["Lisbon, Portugal", "Porto"]})
    assert "- Lisbon, Portugal\n- Porto\n" in text


@pytest.mark.parametrize("bad", [0, -1, "three", 2.5, True])
def test_bad_top_k(bad: object) -> None:
    with pytest.raises(TemplateError, match="top_k"):
        render_template("multi", variables={"top_k": bad})


def test_top_k_from_text_is_accepted() -> None:
    assert "exactly 4 distinct" in render_template("multi", variables={"top_k": "4"})


# --------------------------------------------------------------------------- user templates


def test_user_template_from_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.j2"
    path.write_text(
        "{# description: my own -#}\nPlace the photo near {{ city }} in {{ top_k }} tries.\n"
        "{{ output_contract }}\n"
    )
    text = render_template(str(path), variables={"city": "Oslo"})
    assert text.startswith("Place the photo near Oslo in 3 tries.\n")
    assert '"probability"' in text
    assert text.endswith("\n")  # keep_trailing_newline
    assert render_template(path.as_posix(), variables={"city": "Oslo"}) == text


def test_user_template_may_include_shipped_ones(tmp_path: Path) -> None:
    path = tmp_path / "wrapper.j2"
    path.write_text("PREFIX\n{% include 'cot.j2' %}")
    text = render_template(str(path))
    assert text.startswith("PREFIX\n") and "7. Coordinates" in text


def test_user_dirs_add_and_override(tmp_path: Path) -> None:
    (tmp_path / "gps.j2").write_text("{# description: overridden #}custom gps\n")
    (tmp_path / "extra.j2").write_text("{# description: an extra one #}extra\n")
    (tmp_path / "extra.system.j2").write_text("system for extra\n")
    (tmp_path / "_partial.j2").write_text("partial\n")
    listed = {info.name: info for info in list_templates([tmp_path])}
    assert listed["gps"].description == "overridden"
    assert listed["gps"].path == tmp_path / "gps.j2"
    assert listed["extra"].description == "an extra one"
    assert "cot" in listed and "extra.system" not in listed and "_partial" not in listed
    assert render_template("gps", extra_dirs=[tmp_path]) == "custom gps\n"
    assert "GeoGuessr" in render_template("gps")  # without the folder, the shipped one


def test_missing_template_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"'nothing\.j2' not found; available: .*gps"):
        render_template("nothing")
    with pytest.raises(TemplateError, match="not found"):
        render_template(str(tmp_path / "absent" / "x.j2"))
    with pytest.raises(TemplateError, match="folder not found"):
        render_template("gps", extra_dirs=[tmp_path / "absent"])


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ top_k.__class__ }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ candidates.append.__self__ }}",
        "{{ output_contract.format.__globals__ }}",
    ],
)
def test_sandbox_escape_is_a_template_error(tmp_path: Path, source: str) -> None:
    path = tmp_path / "evil.j2"
    path.write_text(source)
    with pytest.raises(TemplateError):
        render_template(str(path))


def test_sandbox_blocks_mutation(tmp_path: Path) -> None:
    path = tmp_path / "mutate.j2"
    path.write_text("{{ candidates.append(1) }}")
    with pytest.raises(TemplateError, match="unsafe"):
        render_template(str(path), variables={"candidates": []})


def test_undefined_variable_is_a_template_error(tmp_path: Path) -> None:
    path = tmp_path / "typo.j2"
    path.write_text("Hello {{ contry }}")
    with pytest.raises(TemplateError, match=r"undefined variable.*contry"):
        render_template(str(path))


def test_syntax_error_is_a_template_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.j2"
    path.write_text("line one\n{% if top_k %}\nno end")
    with pytest.raises(TemplateError, match=r"syntax error in .*broken\.j2, line \d"):
        render_template(str(path))


def test_runtime_error_is_a_template_error(tmp_path: Path) -> None:
    path = tmp_path / "zero.j2"
    path.write_text("{{ 1 / 0 }}")
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render_template(str(path))


# --------------------------------------------------------------------------- messages


def test_build_messages_zero_shots() -> None:
    image = fake_image()
    messages = build_messages("gps", image)
    assert [m.role for m in messages] == ["system", "user"]
    assert texts(messages[1]) == [render_template("gps").strip()]
    assert images_in(messages[1]) == [image]
    assert isinstance(messages[1].content[0], TextPart)  # instruction first, photo last
    assert messages[1].content[-1] == image


@pytest.mark.parametrize("shots", [2, 3])
def test_build_messages_with_text_exemplars(shots: int) -> None:
    image = fake_image()
    messages = build_messages("cot", image, shots=shots)
    roles = [m.role for m in messages]
    assert roles == ["system"] + ["user", "assistant"] * shots + ["user"]
    instruction = render_template("cot").strip()
    exemplars = load_fewshot_set("default").exemplars
    for index in range(shots):
        user, assistant = messages[1 + 2 * index], messages[2 + 2 * index]
        assert not images_in(user) and not images_in(assistant)
        assert texts(user)[0] == instruction
        assert (exemplars[index].scene or "").strip() in texts(user)[1]
        reply = texts(assistant)[0]
        assert reply.startswith(exemplars[index].reasoning.strip())
        block = re.search(r"```json\n(.*)\n```\s*$", reply, re.DOTALL)
        assert block, "assistant turn must end with a fenced JSON answer"
        parsed = ModelAnswer.model_validate(json.loads(block.group(1)))
        assert parsed == exemplars[index].answer
        assert set(json.loads(block.group(1))["guesses"][0]) == set(Guess.model_fields)
    all_images = [part for m in messages for part in images_in(m)]
    assert all_images == [image]
    assert messages[-1].content == [TextPart(text=instruction), image]


def test_too_many_shots() -> None:
    with pytest.raises(TemplateError, match=r"4 few-shot examples.*only 3"):
        build_messages("gps", fake_image(), shots=4)
    with pytest.raises(TemplateError):
        build_messages("gps", fake_image(), shots=-1)


def test_variables_reach_every_turn() -> None:
    messages = build_messages("multi", fake_image(), shots=1, variables={"top_k": 2})
    for message in (messages[1], messages[-1]):
        assert "exactly 2 distinct hypotheses" in texts(message)[0]


def test_system_message_selection(tmp_path: Path) -> None:
    (tmp_path / "own.j2").write_text("own instruction")
    (tmp_path / "own.system.j2").write_text("own system, top {{ top_k }}\n")
    (tmp_path / "bare.j2").write_text("bare instruction")
    (tmp_path / "quiet.j2").write_text("quiet instruction")
    (tmp_path / "quiet.system.j2").write_text("{# no system message #}\n   \n")
    own = build_messages("own", fake_image(), extra_dirs=[tmp_path])
    assert own[0] == Message.text("system", "own system, top 3")
    bare = build_messages("bare", fake_image(), extra_dirs=[tmp_path])
    shared = (data_dir("prompts") / "system.j2").read_text()
    assert bare[0].role == "system" and texts(bare[0])[0] in shared
    quiet = build_messages("quiet", fake_image(), extra_dirs=[tmp_path])
    assert [m.role for m in quiet] == ["user"]
    by_path = build_messages(str(tmp_path / "own.j2"), fake_image())
    assert by_path[0] == Message.text("system", "own system, top 3")


def test_image_exemplars(tmp_path: Path) -> None:
    Image.new("RGB", (40, 30), (20, 120, 20)).save(tmp_path / "field.png")
    answer = {"reasoning": "r", "guesses": [{"country": "Kenya", "lat": -1.3, "lon": 36.8}]}
    (tmp_path / "pics.json").write_text(
        json.dumps(
            {
                "exemplars": [
                    {"id": "pic", "image": "field.png", "reasoning": "Because.", "answer": answer}
                ]
            }
        )
    )
    target = fake_image()
    messages = build_messages(
        "gps", target, shots=1, fewshot_set=str(tmp_path / "pics.json"), max_side=20
    )
    example_images = images_in(messages[1])
    assert len(example_images) == 1 and example_images[0] != target
    with Image.open(io.BytesIO(example_images[0].data)) as shown:
        assert shown.size == (20, 15)
    assert images_in(messages[-1]) == [target]


def test_exemplar_equal_to_the_photo_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (40, 30), (20, 120, 20)).save(tmp_path / "same.png")
    (tmp_path / "leak.yaml").write_text(
        "exemplars:\n  - id: leak\n    image: same.png\n    reasoning: r\n"
        "    answer: {guesses: [{country: Kenya}]}\n"
    )
    target = prepare_image(tmp_path / "same.png").part()
    with pytest.raises(TemplateError, match="is the photo being located"):
        build_messages("gps", target, shots=1, fewshot_set=str(tmp_path / "leak.yaml"))
