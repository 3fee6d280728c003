"""Runs as data, end to end: a saved run.yaml replays a run through the CLI (from the cache,
sending nothing), the library writes what the CLI writes, one image identity everywhere,
parsing and geocoding off the event loop, and a per-image problem stays that image's."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from ethan import Geolocator, RunSpec, evaluate, locate_files
from ethan.geocode import Resolved
from ethan.types import Guess, Prediction
from tests.conftest import STREETVIEW, locate_all, run_ethan
from tests.replay_server import ReplayServer

TRUTH = STREETVIEW / "truth.csv"
IMAGES = STREETVIEW / "images"
RESPONSES = STREETVIEW / "responses"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _outcomes(path: Path, key: str = "id") -> dict[str, tuple[Any, ...]]:
    return {r[key]: (r["status"], r["lat"], r["lon"]) for r in _lines(path)}


def test_eval_config_replays_a_run_exactly_from_the_cache(
    server: ReplayServer, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    run = run_ethan(
        "eval", str(TRUTH), "--images-root", str(IMAGES), "--base-url", server.base_url,
        "--model", "gpt-4o-mini", "--template", "cot", "--samples", "2", "--temperature", "0.7",
        "--limit", "40", "--out", str(first), "--bootstrap", "50", "--api-key", "sk-keep-out",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    sent = len(server.requests)
    assert sent >= 40
    saved = (first / "run.yaml").read_text(encoding="utf-8")
    assert "sk-keep-out" not in saved
    spec = yaml.safe_load(saved)
    assert spec["settings"]["template"] == "cot" and spec["dataset"]["limit"] == 40
    metrics = json.loads((first / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["config"]["spec"]["settings"]["samples"] == 2
    assert "sk-keep-out" not in (first / "metrics.json").read_text(encoding="utf-8")

    again = tmp_path / "again"
    rerun = run_ethan("eval", "--config", str(first / "run.yaml"), "--out", str(again))
    assert rerun.returncode == 0, rerun.stderr
    assert len(server.requests) == sent  # every answer came from the cache
    assert _outcomes(again / "predictions.jsonl") == _outcomes(first / "predictions.jsonl")
    assert all(r["cached"] for r in _lines(again / "predictions.jsonl"))
    second = json.loads((again / "metrics.json").read_text(encoding="utf-8"))
    assert second["acc_km"] == metrics["acc_km"] and second["n"] == 40

    # flags beside --config override it
    wider = tmp_path / "wider"
    more = run_ethan(
        "eval", "--config", str(first / "run.yaml"), "--out", str(wider), "--limit", "45",
        "--no-cache",
    )  # fmt: skip
    assert more.returncode == 0, more.stderr
    assert len(_lines(wider / "predictions.jsonl")) == 45
    assert len(server.requests) == sent + 45  # one request asks for both samples (n=2)


def test_locate_saves_its_spec_and_config_reruns_it(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    images = sorted(IMAGES.glob("*.jpg"))[:12]
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder / image.name)
    run = run_ethan(
        "locate", str(folder), "--backend", "replay", "--responses",
        str(RESPONSES / "claude-3.5-sonnet.csv"), "--samples", "2", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    spec_file = tmp_path / "r.jsonl.run.yaml"
    spec = RunSpec.load(spec_file)
    assert spec.inputs == [str(folder)] and spec.settings.samples == 2
    other = tmp_path / "other.jsonl"
    again = run_ethan("locate", "--config", str(spec_file), "--out", str(other))
    assert again.returncode == 0, again.stderr
    assert _outcomes(other, "image") == _outcomes(out, "image")
    assert len(_lines(other)) == 12


def test_the_library_writes_the_run_folder_the_cli_writes(tmp_path: Path) -> None:
    spec = RunSpec.parse(
        {
            "backend": {
                "name": "replay",
                "model": "gpt-4o",
                "options": {"responses": str(RESPONSES / "gpt-4o.csv")},
            },
            "dataset": {"manifest": str(TRUTH), "images_root": str(IMAGES), "limit": 30},
            "scoring": {"bootstrap": 50},
            "out": str(tmp_path / "lib"),
        }
    )
    evaluation = evaluate(spec)
    cli = run_ethan(
        "eval", str(TRUTH), "--images-root", str(IMAGES), "--backend", "replay", "--model",
        "gpt-4o", "--responses", str(RESPONSES / "gpt-4o.csv"), "--limit", "30",
        "--bootstrap", "50", "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    for name in ("run.yaml", "predictions.jsonl", "metrics.json", "scored.csv", "report.md"):
        assert (tmp_path / "lib" / name).is_file() and (tmp_path / "cli" / name).is_file()
    lib = json.loads((tmp_path / "lib" / "metrics.json").read_text(encoding="utf-8"))
    via_cli = json.loads((tmp_path / "cli" / "metrics.json").read_text(encoding="utf-8"))
    assert lib["acc_km"] == via_cli["acc_km"] == evaluation.metrics.acc_km
    assert lib["config"]["spec"]["settings"] == via_cli["config"]["spec"]["settings"]
    assert lib["config"]["ethan_version"] and lib["config"]["model"] == "gpt-4o"
    # a Python caller gets the same resume as the CLI
    resumed = evaluate(
        spec.model_copy(update={"dataset": spec.dataset.model_copy(update={"limit": 35})}),
        resume=True,
    )  # type: ignore[union-attr]
    assert resumed.run is not None and resumed.run.summary.skipped == 30
    assert resumed.metrics.n == 35


def _two_photo_jpgs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a" / "photo.jpg", tmp_path / "b" / "photo.jpg"
    sources = sorted(IMAGES.glob("*.jpg"))
    for target, source in ((a, sources[0]), (b, sources[1])):
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
    return a, b


def test_two_photos_with_one_name_are_two_images(tmp_path: Path) -> None:
    a, b = _two_photo_jpgs(tmp_path)
    responses = tmp_path / "answers.csv"
    with responses.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "model_response"])
        writer.writerow(["a/photo.jpg", '{"guesses": [{"city": "Lisbon", "country": "Portugal"}]}'])
        writer.writerow(["b/photo.jpg", '{"guesses": [{"city": "Osaka", "country": "Japan"}]}'])
    out = tmp_path / "r.jsonl"
    common = ["--backend", "replay", "--responses", str(responses), "--out", str(out)]
    first = run_ethan(
        "locate", str(a), str(b), *common, "--max-requests", "1", "--concurrency", "1"
    )
    assert first.returncode == 3, first.stderr
    assert len(_lines(out)) == 1
    resumed = run_ethan("locate", str(a), str(b), *common, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = {r["image"]: r for r in _lines(out)}
    assert set(rows) == {str(a), str(b)}
    assert rows[str(a)]["hypotheses"][0]["country_code"] == "PT"
    assert rows[str(b)]["hypotheses"][0]["country_code"] == "JP"
    again = run_ethan("locate", str(a), str(b), *common, "--resume")
    assert again.returncode == 0 and len(_lines(out)) == 2  # both done: nothing redone

    # candidates keyed by the same identity: each photo.jpg gets its own
    baseline = tmp_path / "baseline.jsonl"
    with baseline.open("w", encoding="utf-8") as fh:
        for path, (lat, lon) in ((a, (10.5, 20.5)), (b, (-33.5, 151.5))):
            fh.write(
                Prediction(image=str(path), status="ok", lat=lat, lon=lon, model="b").to_json_line()
            )
    prompts: dict[str, str] = {}

    class Capture:
        name, model = "capture", "capture"

        def identity(self) -> dict[str, Any]:
            return {"backend": "capture"}

        async def aclose(self) -> None:
            return None

        async def generate(self, messages: Any, config: Any) -> Any:
            from ethan.backends.base import Choice, ImagePart, ModelOutput

            image = next(p for p in messages[-1].content if isinstance(p, ImagePart))
            prompts[str(image.name)] = messages[-1].content[0].text
            return ModelOutput(model="capture", choices=[Choice(text="I cannot tell.")])

    geo = Geolocator(Capture(), template="candidates", candidates=baseline, cache=False)
    locate_all(geo, [a, b])
    assert "10.50°N" in prompts[str(a)] and "33.50°S" not in prompts[str(a)]
    assert "33.50°S" in prompts[str(b)] and "10.50°N" not in prompts[str(b)]


class SlowGeocoder:
    """An online geocoder's shape: each lookup waits on the network for half a second."""

    def __init__(self) -> None:
        self.calls = 0
        self.busy = 0
        self.most_busy = 0
        self._lock = threading.Lock()

    def resolve(self, guess: Guess) -> Resolved | None:
        with self._lock:
            self.calls += 1
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        time.sleep(0.5)
        with self._lock:
            self.busy -= 1
        return Resolved(lat=48.85, lon=2.35, level="city", name=guess.city or "Paris")


def test_the_loop_stays_responsive_while_a_slow_geocoder_works(tmp_path: Path) -> None:
    images = sorted(IMAGES.glob("*.jpg"))[:8]
    responses = tmp_path / "names.csv"
    with responses.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "model_response"])
        for image in images:
            writer.writerow([image.name, '{"guesses": [{"city": "Paris", "country": "France"}]}'])
    geocoder = SlowGeocoder()
    geo = Geolocator(
        "replay", backend_options={"responses": responses}, geocoder=geocoder, cache=False
    )
    gaps: list[float] = []

    async def main() -> tuple[list[Prediction], float]:
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.02)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        out = [p async for p in geo.locate_many(images, concurrency=8)]
        elapsed = time.perf_counter() - started
        done.set()
        await tick
        await geo.aclose()
        return out, elapsed

    predictions, elapsed = asyncio.run(main())
    assert geocoder.calls == 8 and all(p.ok for p in predictions)
    assert geocoder.most_busy >= 4, f"at most {geocoder.most_busy} lookups ran at once"
    assert elapsed < 2.4, f"8 lookups of 0.5 s took {elapsed:.2f} s: they did not overlap"
    assert len(gaps) > 20 and max(gaps) < 0.25, f"the loop stalled for {max(gaps):.2f} s"


def test_a_fewshot_example_that_is_the_photo_fails_only_that_photo(tmp_path: Path) -> None:
    images = sorted(IMAGES.glob("*.jpg"))[:4]
    fewshot = tmp_path / "mine.yaml"
    fewshot.write_text(
        yaml.safe_dump(
            {
                "exemplars": [
                    {
                        "id": "own",
                        "image": str(images[1]),
                        "reasoning": "Clues, then constraints.",
                        "answer": {"guesses": [{"country": "France", "probability": 0.5}]},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "r.jsonl"
    run = run_ethan(
        "locate", *map(str, images), "--backend", "replay", "--responses",
        str(RESPONSES / "gpt-4o-mini.csv"), "--shots", "1", "--fewshot-set", str(fewshot),
        "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = {Path(r["image"]).name: r for r in _lines(out)}
    assert len(rows) == 4
    assert rows[images[1].name]["status"] == "error"
    assert "is the photo being located" in rows[images[1].name]["message"]
    assert all(rows[i.name]["status"] == "ok" for i in images if i != images[1])


def test_library_locate_files_into_a_file(tmp_path: Path) -> None:
    images = sorted(IMAGES.glob("*.jpg"))[:5]
    spec = RunSpec.parse(
        {
            "backend": {"name": "replay", "options": {"responses": str(RESPONSES / "gpt-4o.csv")}},
            "inputs": [str(p) for p in images],
            "out": str(tmp_path / "r.jsonl"),
        }
    )
    result = locate_files(spec)
    assert result.summary.total == 5 and result.stopped is None
    assert result.spec_path == tmp_path / "r.jsonl.run.yaml" and result.spec_path.is_file()
    assert {r["image"] for r in _lines(tmp_path / "r.jsonl")} == {str(p) for p in images}
