"""trainers/train_banding as a user runs it: tiny data, tiny BandingNet, validation numbers, errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import checks  # noqa: E402

ROOT = checks.ROOT
sys.path.insert(0, ROOT)

from gif_pipeline.data import banding as banding_data  # noqa: E402

TINY_NET = ["--channels=4,4,4,4", "--dense_units=8", "--batch_size=4", "--validation_steps=1", "--seed=1"]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def run_trainer(*flags, cwd):
    return subprocess.run([os.path.join(ROOT, "trainers", "train_banding"), *flags], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=400)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A tiny labelled set: 48 px gradients only (sources split train/val by hash)."""
    out = tmp_path_factory.mktemp("banding") / "data"
    config = banding_data.BandingDataConfig(crop_size=48, gradients=10, quantizations_per_crop=1, np_min=4,
                                            np_max=16, original_fraction=1.0, kmeans_fraction=0.0,
                                            crops_per_shard=4, seed=3)
    manifest = banding_data.make_banding_data(str(out), [], config, processes=1, progress=False)
    assert manifest["splits"]["train"]["examples"] and manifest["splits"]["val"]["examples"]
    return out


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("work")
    r = run_trainer(f"--data={data_dir}", *TINY_NET, "--steps=4", "--checkpoint_every=2", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return cwd / "runs" / "banding", r


def test_writes_model_and_config_with_validation_mad_and_spearman(trained, data_dir):
    import keras
    from scipy.stats import spearmanr

    from gif_pipeline.models.gifnets import banding_net  # noqa: F401  (registers the custom layer)

    run, r = trained
    assert (run / "banding_net.keras").is_file() and not (run / "backup").exists()
    record = json.loads((run / "config.json").read_text())
    assert record["stage"] == "banding" and record["model"]["channels"] == [4, 4, 4, 4]
    assert record["model"]["use_edge_map"] is True and record["flags"]["steps"] == 4
    val = record["validation"]
    # Recompute the reported numbers from the saved model and the val shards.
    examples = banding_data.read_examples(banding_data.shard_paths(str(data_dir), "val"))
    assert val["examples"] == len(examples)
    model = keras.saving.load_model(run / "banding_net.keras", compile=False)
    x = np.stack([e["image"] for e in examples]).astype(np.float32) / 127.5 - 1.0
    pred = np.asarray(model(x, training=False)).reshape(-1)
    labels = np.array([e["label"] for e in examples])
    teacher = np.array([e["teacher_score"] for e in examples])
    assert 0.0 <= val["mad"] <= 1.0
    assert val["mad"] == pytest.approx(np.abs(pred - labels).mean(), abs=1e-4)
    rho = spearmanr(pred, teacher).statistic
    if np.isfinite(rho):
        assert val["spearman_teacher"] == pytest.approx(rho, abs=1e-4)
    else:
        assert val["spearman_teacher"] is None
    assert "val MAD" in r.stderr
    events = [f for _, _, fs in os.walk(run / "logs") for f in fs if f.startswith("events.out")]
    assert events


def test_missing_data_names_the_command_to_run_first(tmp_path):
    r = run_trainer(f"--data={tmp_path / 'nothing_here'}", "--steps=1", cwd=tmp_path)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "trainers/make_banding_data" in last and "nothing_here" in last


@pytest.mark.slow
def test_without_edge_map_the_ablation_model_takes_luma_only(data_dir, tmp_path):
    import keras

    from gif_pipeline.models.gifnets import banding_net  # noqa: F401

    r = run_trainer(f"--data={data_dir}", *TINY_NET, "--steps=2", "--checkpoint_every=2", "--nouse_edge_map",
                    "--model_dir=noedge", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((tmp_path / "noedge" / "config.json").read_text())
    assert record["model"]["use_edge_map"] is False
    model = keras.saving.load_model(tmp_path / "noedge" / "banding_net.keras", compile=False)
    assert model.get_layer("block0_conv").kernel.shape[2] == 1  # Y only, no edge-map channel
