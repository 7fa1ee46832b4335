"""benchmarks/banding_floor.py on a tiny banding data set: its tables hold the values computed here."""
import os
import sys

import numpy as np
import pytest

import checks  # noqa: E402

ROOT = checks.ROOT
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "datasets"))

FS_FACTOR = 0.25


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    import keras
    from test_banding import make_photos

    from gif_pipeline.data import banding as banding_data
    from gif_pipeline.models.gifnets.banding_net import build_banding_net
    from gif_pipeline.models.gifnets.config import BandingNetConfig

    work = tmp_path_factory.mktemp("floor")
    photos = make_photos(str(work / "photos"), n_train=3, n_val=3)
    config = banding_data.BandingDataConfig(crop_size=32, crops_per_image=1, gradients=4, quantizations_per_crop=2,
                                            np_min=4, np_max=64, original_fraction=1.0, kmeans_fraction=0.0,
                                            fs_target_factor=FS_FACTOR, crops_per_shard=4, seed=3)
    out = str(work / "data")
    banding_data.make_banding_data(out, banding_data.list_photos([photos]), config, processes=1, progress=False)
    keras.utils.set_random_seed(0)
    model_path = str(work / "tiny_banding.keras")
    build_banding_net(BandingNetConfig.tiny()).save(model_path)
    return out, model_path


def _rows(text):
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ")}


def test_tables_hold_the_teacher_baseline_and_student_values(tiny_data, capsys):
    from benchmarks import banding_floor
    from gif_pipeline.data import banding as banding_data
    from gif_pipeline.metrics.banding import banding_score
    from gif_pipeline.weights import registry

    out, model_path = tiny_data
    assert banding_floor.main(["--data", out, "--model", model_path]) == 0
    rows = _rows(capsys.readouterr().out)
    train = banding_data.read_examples(banding_data.shard_paths(out, "train"))
    val = banding_data.read_examples(banding_data.shard_paths(out, "val"))
    assert val and train

    factor = [FS_FACTOR if e["dither"] == "fs" else 1.0 for e in val]
    flips = [abs(f * banding_score(e["image"]) - f * banding_score(e["image"][:, ::-1])) for e, f in zip(val, factor)]
    assert float(rows["flip left-right"][0]) == pytest.approx(np.mean(flips), abs=6e-5)
    border = [abs(f * banding_score(e["image"]) - f * banding_score(e["image"][4:-4, 4:-4])) for e, f in zip(val, factor)]
    assert float(rows["4 px less border context"][0]) == pytest.approx(np.mean(border), abs=6e-5)
    assert float(rows["4 px less border context"][1]) == pytest.approx(np.mean(border) / 2, abs=6e-5)

    yt = np.array([e["label"] for e in train])
    yv = np.array([e["label"] for e in val])
    assert float(rows["constant: train median"][0]) == pytest.approx(np.abs(yv - np.median(yt)).mean(), abs=6e-5)
    teacher = np.array([e["teacher_score"] for e in val])
    assert float(rows["MAD of the teacher's own score vs the targets (the FS factor's move)"][0]) == \
        pytest.approx(np.abs(teacher - yv).mean(), abs=6e-5)

    model = registry.load("banding", explicit=model_path)
    x = np.stack([e["image"] for e in val]).astype(np.float32) / 127.5 - 1.0
    pred = np.asarray(model(x, training=False)).reshape(-1)
    assert rows["val"][0] == str(len(val))
    assert float(rows["val"][1]) == pytest.approx(np.abs(pred - yv).mean(), abs=6e-5)


def test_identical_images_with_different_targets_set_a_floor():
    from benchmarks import banding_floor

    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 9, np.uint8)
    examples = [{"image": a, "label": 0.2}, {"image": a.copy(), "label": 0.1}, {"image": b, "label": 0.3}]
    got = banding_floor.identical_image_floor(examples)
    # a's group: median 0.15, errors 0.05 + 0.05; b's group alone: 0. Over the 3 examples: 0.1 / 3.
    assert got["conflicting_groups"] == 1 and got["examples_in_conflict"] == 2 and got["distinct_images"] == 2
    assert got["floor_mad"] == pytest.approx(0.1 / 3)


def test_missing_data_is_one_line_and_exit_2(tmp_path, capsys):
    from benchmarks import banding_floor

    assert banding_floor.main(["--data", str(tmp_path), "--fs_target_factor", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no train shards" in err[0]


def test_models_table_scores_each_model_on_val_and_train(tiny_data, tmp_path, capsys):
    import keras

    from benchmarks import banding_models
    from gif_pipeline.data import banding as banding_data
    from gif_pipeline.models.gifnets.banding_net import build_banding_net
    from gif_pipeline.models.gifnets.config import BandingNetConfig
    from gif_pipeline.weights import registry

    out, model_path = tiny_data
    keras.utils.set_random_seed(1)
    other = str(tmp_path / "other.keras")
    build_banding_net(BandingNetConfig.tiny(dense_units=8)).save(other)
    assert banding_models.main(["--data", out, "--model", f"a={model_path}", "--model", f"b={other}"]) == 0
    rows = _rows(capsys.readouterr().out)
    for name, path in (("a", model_path), ("b", other)):
        model = registry.load("banding", explicit=path)
        for split, col in (("val", 0), ("train", 3)):
            ex = banding_data.read_examples(banding_data.shard_paths(out, split))
            x = np.stack([e["image"] for e in ex]).astype(np.float32) / 127.5 - 1.0
            mad = np.abs(np.asarray(model(x, training=False)).reshape(-1) - np.array([e["label"] for e in ex])).mean()
            assert float(rows[name][col]) == pytest.approx(mad, abs=6e-5)
    assert banding_models.main(["--data", out, "--model", "nopath"]) == 2
