"""The llama.cpp backend's setup, checked before any weights load: files, presets (offline),
GGUF headers, projector/model pairing, handler choice, and the schema grammar.

Nothing here needs llama-cpp-python: these errors must be clear even without the engine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ethan.backends.base import create_backend
from ethan.backends.llama_cpp import LlamaCppBackend
from ethan.backends.llama_gguf import GGUFHeader, read_header
from ethan.backends.llama_handlers import check_pairing, choose_handler, image_tokens
from ethan.backends.llama_presets import PRESETS
from ethan.backends.llama_schema import _uint_upto, closing_reserve, schema_to_gbnf
from ethan.errors import ConfigError
from ethan.types import ModelAnswer
from tests.tiny_mmproj import GEMMA_270M_WIDTH, build_tiny_mmproj, gemma_270m


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_mmproj(tmp_path_factory.mktemp("mmproj") / "tiny-mmproj.gguf")


# --------------------------------------------------------------------------- files, presets


def test_missing_model_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model file not found: .*nope\.gguf.*--model"):
        LlamaCppBackend(str(tmp_path / "nope.gguf"))


def test_missing_projector_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"projector file not found: .*mm\.gguf.*--mmproj"):
        LlamaCppBackend(str(gemma_270m()), mmproj=tmp_path / "mm.gguf")


def test_unknown_model_lists_the_presets() -> None:
    with pytest.raises(ConfigError) as info:
        LlamaCppBackend("llava-9000")
    message = str(info.value)
    assert "neither a GGUF file nor a preset" in message
    assert all(name in message for name in PRESETS)
    assert "--model PATH.gguf --mmproj PATH.gguf" in message


def test_no_model_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs --model"):
        create_backend("llama-cpp")


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="llama-cpp backend option temperature_boost"):
        LlamaCppBackend(str(gemma_270m()), temperature_boost=2)


def test_offline_preset_says_which_files_and_flags(tmp_path: Path) -> None:
    """With the Hub unreachable and nothing cached, the CLI stops with one clear line."""
    image = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (90, 140, 200)).save(image)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ETHAN_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-m", "ethan", "locate", str(image), "--backend", "llama-cpp",
         "--model", "llava-1.5-7b"],
        capture_output=True, text=True, env={**env, "COLUMNS": "400"}, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    err = " ".join(run.stderr.split())
    preset = PRESETS["llava-1.5-7b"]
    for needle in (preset.repo, preset.model_file, "HF_HUB_OFFLINE", "--model PATH.gguf"):
        assert needle in err, (needle, err)
    assert "Traceback" not in run.stderr
    assert not list((tmp_path / "cache").rglob("*.gguf")), "nothing may be downloaded"


def test_presets_cover_the_families_and_name_real_handlers() -> None:
    from ethan.backends.llama_handlers import HANDLERS

    families = {p.handler for p in PRESETS.values()}
    assert {"llava-1-5", "llava-1-6", "qwen2.5-vl", "minicpm-v-2.6", "moondream", "mtmd"} <= (
        families
    )
    for preset in PRESETS.values():
        assert preset.handler in HANDLERS
        assert preset.model_file.endswith(".gguf") and preset.mmproj_file.endswith(".gguf")
        assert "mmproj" in preset.mmproj_file


# --------------------------------------------------------------------------- GGUF headers


def test_reads_the_real_model_header() -> None:
    header = read_header(gemma_270m())
    assert header.architecture == "gemma3"
    assert header.embedding_width() == GEMMA_270M_WIDTH
    assert header.get_int("gemma3.context_length") == 32768
    assert "tokenizer.chat_template" not in header.metadata  # the base model ships none
    assert header.tensors["token_embd.weight"] == (GEMMA_270M_WIDTH, 262144)


def test_reads_the_projector_header(projector: Path) -> None:
    header = read_header(projector)
    assert header.architecture == "clip"
    assert header.metadata["clip.projector_type"] == "mlp"
    assert header.projector_width() == GEMMA_270M_WIDTH
    assert header.tensors["v.position_embd.weight"] == (32, 5)  # 4 patches + class


def test_not_a_gguf_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(ConfigError, match="not a valid GGUF file"):
        LlamaCppBackend(str(bad))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gemma_270m().read_bytes()[:4096])
    with pytest.raises(ConfigError, match="ends inside its header"):
        read_header(cut)


# --------------------------------------------------------------------------- pairing, handlers


def test_projector_of_another_width_is_refused_before_loading(tmp_path: Path) -> None:
    narrow = build_tiny_mmproj(tmp_path / "narrow.gguf", out_width=320)
    with pytest.raises(ConfigError) as info:
        LlamaCppBackend(str(gemma_270m()), mmproj=narrow)
    message = str(info.value)
    assert "320-wide" in message and "640-wide" in message and "--mmproj" in message


def test_a_language_model_given_as_projector_is_refused() -> None:
    model = read_header(gemma_270m())
    with pytest.raises(ConfigError, match="is not a vision projector"):
        check_pairing(model, model)


def _header(name: str, **metadata: object) -> GGUFHeader:
    return GGUFHeader(Path(name), metadata=dict(metadata))


@pytest.mark.parametrize(
    ("model_meta", "mmproj_meta", "expected"),
    [
        ({"general.architecture": "llama"}, {"clip.projector_type": "mlp"}, "llava-1-5"),
        (
            {"general.architecture": "llama"},
            {"clip.projector_type": "mlp", "clip.vision.image_grid_pinpoints": [336, 672]},
            "llava-1-6",
        ),
        ({"general.architecture": "phi2"}, {"clip.projector_type": "mlp"}, "moondream"),
        (
            {"general.architecture": "qwen2vl"},
            {"clip.projector_type": "qwen2.5vl_merger"},
            "qwen2.5-vl",
        ),
        (
            {"general.architecture": "qwen2"},
            {"clip.projector_type": "resampler", "clip.minicpmv_version": 3},
            "minicpm-v-2.6",
        ),
        (
            {"general.architecture": "gemma3", "tokenizer.chat_template": "{{ x }}"},
            {"clip.vision.projector_type": "gemma3"},
            "mtmd",
        ),
    ],
)
def test_handler_comes_from_the_metadata(
    model_meta: dict[str, object], mmproj_meta: dict[str, object], expected: str
) -> None:
    assert choose_handler(_header("m.gguf", **model_meta), _header("p.gguf", **mmproj_meta)) == (
        expected
    )


def test_unknown_family_without_template_asks_for_a_handler() -> None:
    with pytest.raises(ConfigError, match="--chat-handler"):
        choose_handler(
            _header("m.gguf", **{"general.architecture": "gemma3"}),
            _header("p.gguf", **{"clip.projector_type": "gemma3"}),
        )


def test_explicit_handler_wins_and_is_checked(projector: Path) -> None:
    backend = LlamaCppBackend(str(gemma_270m()), mmproj=projector, chat_handler="moondream")
    assert backend.handler == "moondream"
    assert LlamaCppBackend(str(gemma_270m()), mmproj=projector).handler == "llava-1-5"
    with pytest.raises(ConfigError, match="unknown chat handler 'llava-2'"):
        LlamaCppBackend(str(gemma_270m()), mmproj=projector, chat_handler="llava-2")
    with pytest.raises(ConfigError, match="--mmproj"):
        LlamaCppBackend(str(gemma_270m()), chat_handler="llava-1-5")


def test_image_token_estimates() -> None:
    llava = _header("p", **{"clip.vision.image_size": 336, "clip.vision.patch_size": 14})
    assert image_tokens(llava, (640, 480)) == 576
    moondream = _header("p", **{"clip.vision.image_size": 378, "clip.vision.patch_size": 14})
    assert image_tokens(moondream, None) == 729
    qwen = _header("p", **{"clip.projector_type": "qwen2.5vl_merger", "clip.vision.patch_size": 14})
    assert image_tokens(qwen, (560, 420)) == 20 * 15
    assert image_tokens(_header("p", **{"clip.vision.projector_type": "gemma3"}), None) == 256


def test_identity_changes_with_what_changes_answers(projector: Path) -> None:
    base = LlamaCppBackend(str(gemma_270m()), mmproj=projector)
    free = LlamaCppBackend(str(gemma_270m()), mmproj=projector, constrain=False)
    assert base.identity() != free.identity()
    assert base.identity() == LlamaCppBackend(str(gemma_270m()), mmproj=projector).identity()
    assert base.identity()["files"][1] == ("tiny-mmproj.gguf", projector.stat().st_size)


# --------------------------------------------------------------------------- grammar


def _gbnf_to_regex(rule: str) -> str:
    """The subset of GBNF that ``_uint_upto`` writes, as a Python regex."""
    return re.sub(r'"([^"]*)"', lambda m: re.escape(m.group(1)), rule).replace(" ", "")


@pytest.mark.parametrize("bound", [0, 1, 9, 10, 89, 90, 179, 180, 1000])
def test_whole_numbers_up_to_a_bound(bound: int) -> None:
    pattern = re.compile(_gbnf_to_regex(_uint_upto(bound)))
    for n in range(0, bound + 60):
        assert bool(pattern.fullmatch(str(n))) == (n <= bound), n
    assert not pattern.fullmatch("07")


def test_grammar_writes_every_key_in_order_with_reasoning_first() -> None:
    grammar = schema_to_gbnf(ModelAnswer.model_json_schema(), max_items=3, max_string=50)
    root = next(line for line in grammar.splitlines() if line.startswith("root ::="))
    keys = re.findall(r'\\"(\w+)\\"', root)
    assert keys == ["reasoning", "clues", "guesses"]
    assert "?" not in root.replace('"?', "")  # no key may be skipped
    assert "char{0,50}" in grammar
    assert "{0,2}" in grammar  # one item, then at most two more
    lat = next(line for line in grammar.splitlines() if "lat-0 ::=" in line)
    assert '"90"' in lat and "[0-9]{1,6}" in lat


def test_closing_reserve_covers_the_shortest_complete_answer() -> None:
    reserve = closing_reserve(ModelAnswer.model_json_schema())
    shortest_guess = (
        '{"continent":null,"country":null,"country_code":null,"region":null,"city":null,'
        '"place":null,"lat":null,"lon":null,"probability":null}'
    )
    assert reserve > len(shortest_guess) + len('{"reasoning":"","clues":[],"guesses":[]}')
    assert reserve < 400


def test_cached_preset_files_are_used_without_the_network(
    monkeypatch: pytest.MonkeyPatch, isolated_user_dir: Path
) -> None:
    """A preset already in the user cache (huggingface_hub's layout) needs no connection."""
    from ethan.backends.llama_download import fetch_preset
    from ethan.backends.llama_presets import models_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    preset = PRESETS["moondream2"]
    repo = models_dir() / ("models--" + preset.repo.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    for name in (preset.model_file, preset.mmproj_file):
        (snapshot / name).write_bytes(b"GGUF")
    model, mmproj = fetch_preset(preset)
    assert model == snapshot / preset.model_file
    assert mmproj == snapshot / preset.mmproj_file


def test_without_llama_cpp_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ethan.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    backend = LlamaCppBackend(str(gemma_270m()), n_ctx=777)  # files are checked, not loaded
    with pytest.raises(MissingDependencyError, match=r"pip install 'ethan-geo\[local\]'"):
        backend.load()
