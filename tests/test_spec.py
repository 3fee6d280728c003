"""The run specification: one declaration drives the flags, the saved run.yaml, the checks
and the errors; secrets never reach the file; backends declare their own options."""

from __future__ import annotations

import hashlib
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ethan import ConfigError, Geolocator, RunSpec, Settings
from ethan.backends import base
from ethan.cli.flags import spec_flags
from ethan.prompts import template_files
from ethan.resources import data_dir
from ethan.spec import BudgetSpec, GeocoderSpec
from tests.conftest import STREETVIEW

RESPONSES = STREETVIEW / "responses" / "gpt-4o.csv"


def test_every_setting_has_exactly_one_flag() -> None:
    flags = {f.path: f for f in spec_flags("eval")}
    for name in Settings.model_fields:
        assert ("settings", name) in flags, name
    for name in BudgetSpec.model_fields:
        assert ("budget", name) in flags, name
    assert ("geocoder", "options") in flags and ("backend", "options") in flags
    # the backends' own options: declared by each backend, not in the generic set
    assert ("backend", "options", "base_url") in flags  # OpenAIOptions
    assert ("backend", "options", "mmproj") in flags  # LlamaCppOptions
    assert ("backend", "options", "responses") in flags  # ReplayOptions
    params = [f.param for f in flags.values()]
    assert len(params) == len(set(params))
    locate = {f.path for f in spec_flags("locate")}
    assert ("dataset", "limit") not in locate and ("dataset", "limit") in flags


def test_a_spec_round_trips_through_yaml(tmp_path: Path) -> None:
    spec = RunSpec.parse(
        {
            "backend": {"name": "replay", "model": "m", "options": {"responses": str(RESPONSES)}},
            "settings": {"template": "cot", "samples": 3, "temperature": 0.7, "shots": 2},
            "geocoder": {"name": "offline", "options": {"broad": "centroid"}},
            "budget": {"max_requests": 10},
            "inputs": ["a.jpg", "folder"],
            "concurrency": 4,
        }
    )
    path = spec.save(tmp_path / "run.yaml")
    again = RunSpec.load(path)
    assert again.model_dump(exclude={"provenance"}) == spec.model_dump(exclude={"provenance"})
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert saved["settings"]["samples"] == 3
    assert saved["backend"]["options"] == {"responses": str(RESPONSES)}


def test_provenance_names_the_version_and_the_template_hash(tmp_path: Path) -> None:
    spec = RunSpec.parse({"settings": {"template": "cot", "shots": 1}})
    saved = yaml.safe_load(spec.save(tmp_path / "run.yaml").read_text(encoding="utf-8"))
    prov = saved["provenance"]
    import ethan

    assert prov["ethan_version"] == ethan.__version__
    files = template_files("cot")
    assert files[0] == data_dir("prompts") / "cot.j2"
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    assert prov["template_sha256"] == digest.hexdigest()
    assert len(prov["fewshot_sha256"]) == 64
    # an edited template changes the hash
    mine = tmp_path / "mine.j2"
    mine.write_text("Where is this? {{ output_contract }}", encoding="utf-8")
    other = RunSpec.parse({"settings": {"template": str(mine)}}).provenance_now()
    assert other.template_sha256 != prov["template_sha256"]
    mine.write_text("Where was this taken? {{ output_contract }}", encoding="utf-8")
    edited = RunSpec.parse({"settings": {"template": str(mine)}}).provenance_now()
    assert edited.template_sha256 != other.template_sha256


def test_secrets_are_never_saved(tmp_path: Path) -> None:
    secret = "sk-test-0123456789abcdef"
    spec = RunSpec.parse(
        {
            "backend": {
                "name": "openai",
                "options": {"api_key": secret, "base_url": "http://127.0.0.1:9/v1"},
            },
            "geocoder": {"name": "nominatim", "options": {"api_key": secret, "timeout": 3}},
        }
    )
    text = spec.save(tmp_path / "run.yaml").read_text(encoding="utf-8")
    assert secret not in text
    saved = yaml.safe_load(text)
    assert saved["backend"]["options"] == {"base_url": "http://127.0.0.1:9/v1"}
    assert saved["geocoder"]["options"] == {"timeout": 3}
    assert secret not in repr(spec.to_data())


def test_a_wrong_backend_option_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        RunSpec.parse({"backend": {"name": "openai", "options": {"mmproj": "x.gguf"}}})
    message = str(info.value)
    assert "mmproj" in message and "openai" in message
    for valid in ("base_url", "timeout", "max_attempts", "detail"):
        assert valid in message
    with pytest.raises(ConfigError, match="timeout"):
        RunSpec.parse({"backend": {"name": "openai", "options": {"timeout": "soon"}}})


def test_bad_settings_are_config_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        RunSpec.parse({"settings": {"aggregate": "best"}})
    message = str(info.value)
    assert "settings.aggregate" in message and "'medoid'" in message and "'cluster'" in message
    with pytest.raises(ConfigError, match=r"settings\.samples"):
        RunSpec.parse({"settings": {"samples": 0}})
    with pytest.raises(ConfigError, match=r"templates.*known:.*template"):
        RunSpec.parse({"settings": {"templates": "cot"}})
    with pytest.raises(ConfigError, match="aggregate"):
        Geolocator("replay", backend_options={"responses": RESPONSES}, aggregate="best")
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        RunSpec.parse({"backend": {"name": "nope"}})


def test_a_hand_written_yaml_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            backend:
              name: replay
              options: {{responses: {RESPONSES}}}
            settings: {{template: cot, samples: 2}}
            inputs: [{STREETVIEW / "images"}]
            """
        ),
        encoding="utf-8",
    )
    spec = RunSpec.load(path)
    assert spec.settings.samples == 2 and spec.geocoder == GeocoderSpec()
    for bad, match in (("[1, 2]", "mapping"), ("a: [", "not valid YAML")):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError, match=match):
            RunSpec.load(path)
    with pytest.raises(ConfigError, match="not found"):
        RunSpec.load(tmp_path / "missing.yaml")


def test_a_backend_from_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party package declares ``[ethan.backends]``; its Options are validated."""
    site = tmp_path / "site"
    (site / "ethan_echo-0.1.dist-info").mkdir(parents=True)
    (site / "ethan_echo-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ethan-echo\nVersion: 0.1\n", encoding="utf-8"
    )
    (site / "ethan_echo-0.1.dist-info" / "entry_points.txt").write_text(
        "[ethan.backends]\necho = ethan_echo:EchoBackend\n", encoding="utf-8"
    )
    (site / "ethan_echo.py").write_text(
        textwrap.dedent(
            """\
            from pydantic import BaseModel, ConfigDict
            from ethan.backends.base import Choice, ModelOutput

            class EchoOptions(BaseModel):
                model_config = ConfigDict(extra="forbid")
                city: str = "Paris"

            class EchoBackend:
                name = "echo"
                Options = EchoOptions

                def __init__(self, model="echo-1", **options):
                    self.model = model
                    self.options = EchoOptions(**options)

                def identity(self):
                    return {"backend": "echo", "city": self.options.city}

                async def aclose(self):
                    return None

                async def generate(self, messages, config):
                    text = '{"guesses": [{"city": "%s"}]}' % self.options.city
                    return ModelOutput(model=self.model, choices=[Choice(text=text)])
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(base, "_PLUGINS_LOADED", False)
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    assert "echo" in base.backend_names()
    with pytest.raises(ConfigError, match="valid options: city"):
        RunSpec.parse({"backend": {"name": "echo", "options": {"town": "Rome"}}})
    spec = RunSpec.parse({"backend": {"name": "echo", "options": {"city": "Lima"}}})
    from ethan.runs import build_geolocator

    geo = build_geolocator(spec)
    image = sorted((STREETVIEW / "images").glob("*.jpg"))[0]
    with geo:
        prediction = geo.locate(image)
    assert prediction.ok and prediction.hypotheses[0].country_code == "PE"
    sys.modules.pop("ethan_echo", None)


def test_verify_is_refused_on_the_batch_engine() -> None:
    with pytest.raises(ConfigError, match=r"--verify .* not the Batch API"):
        RunSpec.parse({"engine": "batch", "retrieval": {"verify": True}})
    assert RunSpec.parse({"engine": "ray", "retrieval": {"verify": True}}).retrieval.verify
