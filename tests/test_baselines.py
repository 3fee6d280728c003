"""Haversine label smoothing and the geocell classifier, trained for real on synthetic
embeddings that encode the location (noisy random Fourier features of lat/lon)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("s2cell")

from ethan.baselines.classifier import GeoCellClassifier, TrainConfig
from ethan.baselines.geocells import Partition
from ethan.baselines.outputs import Item
from ethan.baselines.partitions import build_partition
from ethan.baselines.runs import predict_baseline
from ethan.baselines.smoothing import (
    haversine_targets,
    onehot_targets,
    soft_cross_entropy,
)
from ethan.baselines.synthetic import SyntheticSet, synthetic_set
from ethan.errors import ConfigError
from ethan.geo import haversine_km
from ethan.types import PointSource, Status

TAU = 75.0


# --------------------------------------------------------------------------- smoothing


def test_haversine_targets_follow_the_formula() -> None:
    rng = np.random.default_rng(0)
    clat, clon = rng.uniform(-60, 60, 40), rng.uniform(-180, 180, 40)
    lats, lons = rng.uniform(-60, 60, 25), rng.uniform(-180, 180, 25)
    labels = rng.integers(0, 40, 25)
    raw = haversine_targets(lats, lons, labels, clat, clon, TAU, normalize=False)
    norm = haversine_targets(lats, lons, labels, clat, clon, TAU)
    for i in range(25):
        d = np.asarray(haversine_km(lats[i], lons[i], clat, clon))
        exponent = -(d - d[labels[i]]) / TAU
        # the formula, with exponents above 60 (a centroid far nearer than the true cell's)
        # bounded so nothing overflows
        np.testing.assert_allclose(raw[i], np.exp(np.minimum(exponent, 60.0)), rtol=1e-9)
        assert raw[i, labels[i]] == pytest.approx(1.0)
        # normalised: the same weights divided by their sum, i.e. softmax(-d / tau)
        softmax = np.exp(exponent - exponent.max()) / np.exp(exponent - exponent.max()).sum()
        np.testing.assert_allclose(norm[i], softmax, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(norm.sum(axis=1), 1.0)


def test_targets_stay_finite_for_tiny_and_huge_tau() -> None:
    clat, clon = np.array([0.0, 0.0, 60.0]), np.array([0.0, 90.0, -120.0])
    lats, lons, labels = np.array([0.1, 59.0]), np.array([89.0, 0.0]), np.array([0, 2])
    for tau in (1e-3, 1.0, 1e6):
        for normalize in (True, False):
            t = haversine_targets(lats, lons, labels, clat, clon, tau, normalize=normalize)
            assert np.isfinite(t).all() and (t >= 0).all()
    # a centroid much closer than the true cell's would overflow exp(); it is bounded
    raw = haversine_targets(lats, lons, labels, clat, clon, 1e-3, normalize=False)
    assert raw.max() < 1e27
    sharp = haversine_targets(lats, lons, labels, clat, clon, 1e-3)
    assert sharp[0].argmax() == 1 and sharp[0].max() == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        haversine_targets(lats, lons, labels, clat, clon, 0.0)
    with pytest.raises(ConfigError):
        haversine_targets(lats, lons, np.array([0, 3]), clat, clon, TAU)


def test_onehot_is_the_ablation_and_the_loss_is_soft_cross_entropy() -> None:
    t = onehot_targets([2, 0], 3)
    assert t.tolist() == [[0, 0, 1], [1, 0, 0]]
    log_p = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]))
    assert soft_cross_entropy(log_p, t) == pytest.approx(-(np.log(0.5) + np.log(0.6)) / 2)


# --------------------------------------------------------------------------- training


@dataclass
class Trained:
    train: SyntheticSet
    test: SyntheticSet
    partition: Partition
    labels: np.ndarray
    haversine: GeoCellClassifier
    onehot: GeoCellClassifier


@pytest.fixture(scope="module")
def trained() -> Trained:
    train = synthetic_set(6000, seed=0)
    test = synthetic_set(2000, seed=1)
    partition, labels = build_partition(
        train.lats, train.lons, kind="semantic", max_count=100, min_count=10
    )
    models = {
        smoothing: GeoCellClassifier.train(
            train.embeddings, train.lats, train.lons, partition, labels,
            TrainConfig(smoothing=smoothing, tau_km=TAU, epochs=20, seed=0, threads=1),
        )
        for smoothing in ("haversine", "onehot")
    }  # fmt: skip
    return Trained(train, test, partition, labels, models["haversine"], models["onehot"])


def _errors_km(model: GeoCellClassifier, data: SyntheticSet, **options: object) -> np.ndarray:
    located = model.locate(data.embeddings, 5, **options)  # type: ignore[arg-type]
    lats = np.array([r[0].lat for r in located])
    lons = np.array([r[0].lon for r in located])
    return np.asarray(haversine_km(lats, lons, data.lats, data.lons))


def test_classifier_reaches_acc750_on_held_out_points(trained: Trained) -> None:
    d = _errors_km(trained.haversine, trained.test)
    acc750 = float(np.mean(d <= 750))
    print(
        f"\nheld-out synthetic ({len(trained.test)} points, {len(trained.partition)} cells): "
        f"acc@25km {np.mean(d <= 25):.3f} acc@200km {np.mean(d <= 200):.3f} "
        f"acc@750km {acc750:.3f} median {np.median(d):.1f} km"
    )
    assert acc750 >= 0.9
    assert trained.haversine.history[-1] < trained.haversine.history[0]


def test_haversine_smoothing_beats_onehot(trained: Trained) -> None:
    rows = []
    for refine in ("retrieval", "centroid"):
        for name, model in (("haversine", trained.haversine), ("onehot", trained.onehot)):
            d = _errors_km(model, trained.test, refine=refine)
            rows.append((refine, name, float(np.mean(d <= 25)), float(np.median(d))))
            print(f"\n{refine:9s} {name:9s} acc@25km {rows[-1][2]:.3f} median {rows[-1][3]:.1f} km")
    (_, _, h25, h_med), (_, _, o25, o_med) = rows[0], rows[1]
    assert h25 > o25 or h_med < o_med
    (_, _, hc25, hc_med), (_, _, oc25, oc_med) = rows[2], rows[3]
    assert hc25 > oc25 or hc_med < oc_med  # the loss alone, without retrieval


def test_saved_model_predicts_the_same(trained: Trained, tmp_path: Path) -> None:
    model = trained.haversine
    loaded = GeoCellClassifier.load(model.save(tmp_path / "model"))
    sample = trained.test.embeddings[:50]
    np.testing.assert_allclose(
        loaded.log_probabilities(sample), model.log_probabilities(sample), atol=1e-5
    )
    a, b = model.locate(sample, 3), loaded.locate(sample, 3)
    assert [[p.cell for p in r] for r in a] == [[p.cell for p in r] for r in b]
    for ra, rb in zip(a, b, strict=True):
        # reference embeddings are stored as float16: retrieval may pick a near twin
        assert haversine_km(ra[0].lat, ra[0].lon, rb[0].lat, rb[0].lon) < 50
    with pytest.raises(ConfigError, match="expects 128"):
        loaded.log_probabilities(np.zeros((2, 7), dtype=np.float32))


def test_predictions_are_ranked_hypotheses_with_probabilities(
    trained: Trained, tmp_path: Path
) -> None:
    path = tmp_path / "emb.npy"
    from ethan.baselines.embeddings import write_embeddings

    ids = [f"img{i}.jpg" for i in range(20)]
    write_embeddings(path, ids, ids, trained.test.embeddings[:20])
    items = [Item(image=f"/photos/img{i}.jpg", id=f"img{i}.jpg") for i in range(21)]
    predictions = predict_baseline(trained.haversine, items, embeddings=path, top_k=4)
    assert len(predictions) == 21
    assert predictions[20].status is Status.ERROR and "no precomputed" in predictions[20].message
    for p in predictions[:20]:
        assert p.status is Status.OK and p.id is not None and p.image.endswith(p.id)
        assert len(p.hypotheses) == 4 and p.hypotheses[0].lat == p.lat
        probs = [h.probability or 0.0 for h in p.hypotheses]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
        assert all(h.source is PointSource.STATED for h in p.hypotheses)
        assert p.hypotheses[0].country_code  # named offline for the hybrid
    centroid = predict_baseline(
        trained.haversine, items[:3], embeddings=path, refine="centroid", names=False
    )
    assert centroid[0].hypotheses[0].source is PointSource.CENTROID
    assert centroid[0].hypotheses[0].country is None


def test_training_refuses_bad_input(trained: Trained) -> None:
    t = trained.train
    with pytest.raises(ConfigError):
        TrainConfig(smoothing="label")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no training point"):
        GeoCellClassifier.train(
            t.embeddings[:5], t.lats[:5], t.lons[:5], trained.partition, np.full(5, -1)
        )
