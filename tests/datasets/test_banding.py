"""BandingNet's labelled data: trainers/make_banding_data as a user runs it, and gif_pipeline.data.banding."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import checks  # noqa: E402

ROOT = checks.ROOT
sys.path.insert(0, ROOT)

from gif_pipeline.data import banding as banding_data  # noqa: E402
from gif_pipeline.metrics.banding import banding_score  # noqa: E402

FS_FACTOR = 0.25
TINY = ["--crop_size=32", "--crops_per_image=1", "--gradients=3", "--quantizations=1", "--np_min=4", "--np_max=8",
        "--original_fraction=0.5", "--kmeans_fraction=0.5", f"--fs_target_factor={FS_FACTOR}",
        "--crops_per_shard=2", "--seed=7", "--noprogress"]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def run_tool(*flags, cwd):
    return subprocess.run([os.path.join(ROOT, "trainers", "make_banding_data"), *flags], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


def _photo(seed, h=40, w=52):
    """A small smooth 'photo': a colour ramp with a soft blob and a hard-edged box."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(40, 200, 3) + 60 * np.stack([xx, yy, xx * yy], -1)
    base += 50 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) / 0.05)[..., None]
    base[5:15, 5:15] = rng.uniform(0, 255, 3)
    return np.clip(base, 0, 255).astype(np.uint8)


def photo_names(n_train, n_val):
    """File names whose hash puts them in the train / val split (found, not hard-coded)."""
    from gif_pipeline.data.images import is_validation

    names = [f"p{i:03d}.png" for i in range(60)]
    val = is_validation(names)
    return [n for n, v in zip(names, val) if not v][:n_train] + [n for n, v in zip(names, val) if v][:n_val]


def make_photos(folder, n_train=3, n_val=2):
    os.makedirs(folder, exist_ok=True)
    for i, name in enumerate(photo_names(n_train, n_val)):
        Image.fromarray(_photo(i)).save(os.path.join(folder, name))
    return folder


TINY_CONFIG = dict(crop_size=32, crops_per_image=1, gradients=3, quantizations_per_crop=1, np_min=4, np_max=8,
                   original_fraction=0.5, kmeans_fraction=0.5, fs_target_factor=FS_FACTOR, crops_per_shard=2,
                   seed=7)  # the same settings as the TINY flags


def read_all(out):
    return banding_data.read_examples(banding_data.shard_paths(str(out), "train")
                                      + banding_data.shard_paths(str(out), "val"))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("work")
    images = make_photos(str(cwd / "photos"))
    r = run_tool(f"--images={images}", "--out=data", "--processes=1", *TINY, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    out = cwd / "data"
    return cwd, images, out, read_all(out), r


def test_writes_shards_with_teacher_labels_in_unit_range(made):
    cwd, _, out, records, _ = made
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["splits"]["train"]["examples"] + manifest["splits"]["val"]["examples"] == len(records)
    # 5 photos + 3 gradients, one crop each; each crop gives 2 quantized versions (+ maybe an original).
    assert 16 <= len(records) <= 24
    assert {r["image"].shape for r in records} == {(32, 32, 3)}
    for r in records:
        assert 0.0 <= r["label"] <= 1.0 and 0.0 <= r["teacher_score"] <= 1.0
        assert r["method"] in ("median-cut", "kmeans", "none") and r["dither"] in ("none", "fs")
        assert (r["np"] == 0) == (r["method"] == "none")
        assert r["np"] == 0 or 4 <= r["np"] <= 8
        if r["np"]:
            assert len(np.unique(r["image"].reshape(-1, 3), axis=0)) <= r["np"]
    # The stored teacher score is the teacher's score of the stored image.
    for r in records[:4]:
        assert r["teacher_score"] == pytest.approx(banding_score(r["image"]), abs=1e-6)
    assert any(r["source"].startswith("gradient_") for r in records)
    assert any(r["np"] == 0 for r in records) and any(r["method"] == "kmeans" for r in records)


def test_fs_targets_are_lowered_by_the_factor(made):
    _, _, _, records, _ = made
    fs = [r for r in records if r["dither"] == "fs"]
    plain = [r for r in records if r["dither"] == "none"]
    assert fs and plain
    for r in fs:
        assert r["label"] == pytest.approx(FS_FACTOR * r["teacher_score"], abs=1e-6)
    for r in plain:
        assert r["label"] == pytest.approx(r["teacher_score"], abs=1e-6)
    assert any(r["teacher_score"] > 0.05 for r in fs)  # the factor was applied to real scores


def test_split_is_by_source(made):
    from gif_pipeline.data.images import is_validation

    _, _, out, records, _ = made
    train_sources = {r["source"] for r in records if r["split"] == "train"}
    val_sources = {r["source"] for r in records if r["split"] == "val"}
    assert train_sources and val_sources and not train_sources & val_sources
    # Every record sits in the shards of its split, and the split follows the data.py hash rule.
    for split in ("train", "val"):
        in_shards = banding_data.read_examples(banding_data.shard_paths(str(out), split))
        assert {r["split"] for r in in_shards} == {split}
    for source in train_sources | val_sources:
        assert bool(is_validation([source])[0]) == (source in val_sources)


def test_rerun_with_same_flags_uses_the_cache(made):
    cwd, images, out, records, _ = made
    before = {p: os.path.getmtime(p) for p in banding_data.shard_paths(str(out), "train")}
    # The same settings as the command line's flags: every shard is found and none is rewritten.
    config = banding_data.BandingDataConfig(**TINY_CONFIG)
    manifest = banding_data.make_banding_data(str(out), banding_data.list_photos([images]), config, progress=False)
    assert manifest["shards"]["written"] == 0 and manifest["shards"]["cached"] == manifest["shards"]["total"] > 1
    assert {p: os.path.getmtime(p) for p in before} == before
    assert len(read_all(out)) == len(records)


def test_other_settings_in_the_same_folder_are_refused(made):
    _, images, out, _, _ = made
    config = banding_data.BandingDataConfig(**{**TINY_CONFIG, "fs_target_factor": 0.9})
    with pytest.raises(banding_data.BandingDataError, match="--overwrite"):
        banding_data.make_banding_data(str(out), banding_data.list_photos([images]), config, progress=False)


def _assert_same(again, records):
    assert len(again) == len(records)
    for a, b in zip(again, records):
        assert a["source"] == b["source"] and a["np"] == b["np"] and a["dither"] == b["dither"]
        np.testing.assert_array_equal(a["image"], b["image"])
        assert a["label"] == b["label"]


def test_same_seed_same_data_and_another_seed_other_data(made, tmp_path):
    _, images, _, records, _ = made
    config = banding_data.BandingDataConfig(**TINY_CONFIG)
    banding_data.make_banding_data(str(tmp_path / "again"), banding_data.list_photos([images]), config,
                                   processes=1, progress=False)
    _assert_same(read_all(tmp_path / "again"), records)
    other = banding_data.make_examples(banding_data.Unit("gradient_00000", None, 0, "train"),
                                       dataclasses.replace(config, seed=8))
    first = [r for r in records if r["source"] == "gradient_00000"]
    assert not np.array_equal(other[0]["image"], first[0]["image"])


@pytest.mark.slow
def test_two_worker_processes_give_the_same_data(made, tmp_path):
    cwd, images, _, records, _ = made
    r = run_tool(f"--images={images}", f"--out={tmp_path / 'two'}", "--processes=2", *TINY, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    _assert_same(read_all(tmp_path / "two"), records)


def test_synthetic_gradients_band_when_quantized():
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(4):
        g, kind = banding_data.synthetic_gradient(64, rng, noise_fraction=0.0)
        assert kind in banding_data.GRADIENT_KINDS and g.shape == (64, 64, 3) and g.dtype == np.uint8
        scores.append((banding_score(g), banding_score(banding_data.quantize(g, 6, "median-cut", "none"))))
    # Quantizing a smooth gradient to 6 colours makes visible bands; the gradient itself has none.
    assert np.mean([q for _, q in scores]) > np.mean([s for s, _ in scores]) + 0.2


def test_bad_settings_raise_clear_errors(tmp_path):
    with pytest.raises(banding_data.BandingDataError, match="np_min"):
        banding_data.BandingDataConfig(np_min=64, np_max=8)
    with pytest.raises(banding_data.BandingDataError, match="fs_target_factor"):
        banding_data.BandingDataConfig(fs_target_factor=1.5)
    with pytest.raises(banding_data.BandingDataError, match="no images"):
        banding_data.list_photos([str(tmp_path)])
    with pytest.raises(banding_data.BandingDataError, match="no sources"):
        banding_data.plan_units([], banding_data.BandingDataConfig(gradients=0))
