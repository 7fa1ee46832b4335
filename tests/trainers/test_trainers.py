"""The training stages as a user runs them: `trainers/NAME --flags`, checkpoints, resume, errors."""
import json
import os
import signal
import subprocess
import time

import pytest

import checks  # noqa: E402

ROOT = checks.ROOT
TINY_PALETTE = ["--np=8", "--depth_multiplier=0.1", "--min_depth=8", "--image_size=32", "--batch_size=2",
                "--validation_steps=1"]
TINY_DITHER = ["--np=8", "--block_channels=4,8,8,8,8", "--bottleneck_channels=8,8", "--image_size=32",
               "--batch_size=2", "--validation_steps=1"]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def run_trainer(name, *flags, cwd, timeout=600, env=None):
    return subprocess.run([os.path.join(ROOT, "trainers", name), *flags], cwd=cwd, env={**_env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def palette_run(tmp_path_factory):
    """Stage 1 exactly as typed in the README (tiny sizes), from a folder that is not the repo."""
    cwd = tmp_path_factory.mktemp("work")
    r = run_trainer("train_palette", *TINY_PALETTE, "--steps=4", "--checkpoint_every=2", "--seed=3", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return cwd, r


def test_train_palette_writes_weights_config_and_tensorboard_logs(palette_run):
    cwd, r = palette_run
    run = cwd / "runs" / "palette_np8"
    assert (run / "palette_net.keras").is_file()
    record = json.loads((run / "config.json").read_text())
    assert record["stage"] == "palette" and record["model"]["num_colors"] == 8
    assert record["flags"]["steps"] == 4 and record["flags"]["seed"] == 3
    assert 0 < record["final_metrics"]["loss"] < 4  # Eq. 2 on [-1, 1] images is at most 12
    events = [f for _, _, fs in os.walk(run / "logs") for f in fs if f.startswith("events.out")]
    assert len(events) >= 2  # scalars and images
    assert "embedded" in r.stderr or "sample images" in r.stderr  # the log says the sample set is used
    assert not (run / "backup").exists()  # a finished run leaves no resume state
    # The saved model is the best validation epoch's, and config.json says which loss that was.
    assert (run / "best.weights.h5").is_file()
    assert record["best_val_loss"] == pytest.approx(min(record["history"]["val_loss"]))


def test_train_dither_uses_stage_one_output_and_says_what_is_missing(palette_run):
    cwd, _ = palette_run
    r = run_trainer("train_dither", *TINY_DITHER, "--steps=2", "--checkpoint_every=2", cwd=cwd)
    if not os.path.exists(os.path.join(ROOT, "gif_pipeline", "weights", "banding.keras")):
        # Without a BandingNet, the error names the command to run first, in one line.
        assert r.returncode != 0
        assert "trainers/train_banding" in r.stderr.strip().splitlines()[-1]
        r = run_trainer("train_dither", *TINY_DITHER, "--steps=2", "--checkpoint_every=2", "--delta=0", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((cwd / "runs" / "dither_np8" / "config.json").read_text())
    assert record["palette_model"].endswith("palette_net.keras") or "weights" in record["palette_model"]
    assert (cwd / "runs" / "dither_np8" / "dither_net.keras").is_file()


@pytest.mark.slow  # ~145 s of training (2026-12-07 suite): the default suite had reached 15 min; -m slow runs it
def test_train_dither_fine_tunes_from_init_from_with_the_vif_term(palette_run):
    import keras
    import numpy as np

    from gif_pipeline.models.gifnets import dither_net  # noqa: F401  (registers the custom layers)

    cwd, _ = palette_run
    start = cwd / "runs" / "dither_start"
    r = run_trainer("train_dither", *TINY_DITHER, "--steps=1", "--checkpoint_every=1", "--delta=0",
                    f"--model_dir={start}", "--seed=1", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    # Learning rate 0: the fine-tuned convs must be exactly the starting network's (not a fresh init).
    # The channel flags differ from the file's on purpose: the file's own layout is used.
    tuned = cwd / "runs" / "dither_tuned"
    r = run_trainer("train_dither", "--np=8", "--block_channels=16,16,16,16,16", "--image_size=32", "--batch_size=2",
                    "--validation_steps=1", "--steps=1", "--checkpoint_every=1", "--delta=0", "--vif=0.5",
                    "--learning_rate=0", f"--init_from={start / 'dither_net.keras'}", f"--model_dir={tuned}",
                    cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((tuned / "config.json").read_text())
    assert record["init_from"].endswith("dither_net.keras") and record["loss"]["vif"] == 0.5
    assert record["model"]["block_channels"] == [4, 8, 8, 8, 8]
    assert record["final_metrics"]["vif"] > 0  # the term was computed
    a, b = (keras.saving.load_model(p / "dither_net.keras", compile=False) for p in (start, tuned))
    for layer in a.layers:
        if isinstance(layer, keras.layers.Conv2D):
            np.testing.assert_array_equal(layer.kernel.numpy(), b.get_layer(layer.name).kernel.numpy())
    # Issue 29: --noise_channels with --init_from adds a blue-noise input whose first-conv weights start at 0;
    # --lattice_weight trains against the 8-px lattice. At learning rate 0 the old kernel is kept, the new is 0.
    noisy = cwd / "runs" / "dither_noisy"
    r = run_trainer("train_dither", *TINY_DITHER, "--steps=1", "--checkpoint_every=1", "--delta=0", "--learning_rate=0",
                    "--noise_channels=1", "--noise_period=16", "--lattice_weight=100", "--stripe_weight=50", "--threads=1",
                    f"--init_from={start / 'dither_net.keras'}", f"--model_dir={noisy}", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((noisy / "config.json").read_text())
    assert record["init_noise_channels_added"] == 1 and record["loss"]["lattice"] == 100
    assert (record["model"]["noise_channels"], record["model"]["noise_period"]) == (1, 16)
    assert record["final_metrics"]["lattice"] > 0 and record["loss"]["stripes"] == 50  # the terms were computed
    assert record["final_metrics"]["stripes"] > 0
    c = keras.saving.load_model(noisy / "dither_net.keras", compile=False)
    kernel = c.get_layer("enc0_conv").kernel.numpy()
    np.testing.assert_array_equal(kernel[:, :, :6], a.get_layer("enc0_conv").kernel.numpy())
    assert kernel.shape[2] == 7 and not kernel[:, :, 6:].any()
    from trainers import ship_model

    command = ship_model.reproduce_command(record, "dither")
    assert "--noise_channels=1" in command and "--noise_period=16" in command and "--lattice_weight=100" in command
    # Not a DitherNet, or no file: one clear line and a non-zero exit.
    palette = cwd / "runs" / "palette_np8" / "palette_net.keras"
    for bad, says in ((palette, "not a DitherNet"), (cwd / "missing.keras", "no dither model")):
        r = run_trainer("train_dither", *TINY_DITHER, "--steps=1", "--delta=0", f"--init_from={bad}",
                        f"--model_dir={cwd / 'runs' / 'bad'}", cwd=cwd)
        assert r.returncode != 0 and says in r.stderr.strip().splitlines()[-1], r.stderr[-2000:]


def test_missing_palette_net_names_the_command_to_run_first(tmp_path):
    # No weights installed at all (a shipped nested PaletteNet would otherwise serve its first 7 colours).
    empty = tmp_path / "no_weights"
    empty.mkdir()
    r = run_trainer("train_dither", "--np=7", "--steps=1", cwd=tmp_path, env={"GIFNETS_WEIGHTS": str(empty)})
    assert r.returncode != 0
    assert "trainers/train_palette --np=7" in r.stderr.strip().splitlines()[-1]


def test_wrong_np_is_a_usage_error(tmp_path):
    r = run_trainer("train_palette", "--np=1", cwd=tmp_path)
    assert r.returncode != 0 and "--np" in r.stderr


# The truncated-weights case is slow (~105 s of CPU; 2026-12-08 suite at 15+ min): -m slow runs it.
@pytest.mark.parametrize("corrupt", [pytest.param(False, id="clean-backup"),
                                     pytest.param(True, id="truncated-weights", marks=pytest.mark.slow)])
def test_a_killed_run_resumes_where_it_stopped(tmp_path, corrupt):
    flags = [*TINY_PALETTE, "--steps=8", "--checkpoint_every=1", "--seed=5", "--validation_steps=0",
             f"--model_dir={tmp_path / 'run'}"]
    proc = subprocess.Popen([os.path.join(ROOT, "trainers", "train_palette"), *flags], cwd=tmp_path, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    backup = tmp_path / "run" / "backup"
    deadline = time.time() + 400
    # Wait until at least two epochs (of one step each) are checkpointed, then kill it hard.
    while time.time() < deadline and proc.poll() is None:
        state = backup / "training_metadata.json"
        if state.exists():
            try:
                if json.loads(state.read_text()).get("epoch", 0) >= 2:
                    break
            except ValueError:
                pass
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be killed: " + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert backup.exists() and not (tmp_path / "run" / "palette_net.keras").exists()
    saved_epochs = json.loads((backup / "training_metadata.json").read_text())["epoch"]
    if corrupt:
        # As if the kill had hit while the weights were written: the previous backup is used instead.
        (backup / "latest.weights.h5").write_bytes(b"truncated")
        saved_epochs = json.loads((backup / "training_metadata.json.bkp").read_text())["epoch"]
    r = run_trainer("train_palette", *flags, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Resuming" in r.stderr
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["epochs_run"] == 8 - saved_epochs  # exactly the epochs left after the kill ran, none again


def test_ship_model_evaluates_copies_without_optimizer_and_writes_a_card(palette_run, tmp_path):
    cwd, _ = palette_run
    run = cwd / "runs" / "palette_np8"
    dest = tmp_path / "weights"
    args = ["--kind=palette", f"--run={run}", f"--val={checks.FIXTURES}", f"--dest={dest}"]
    r = run_trainer("ship_model", *args, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    shipped = dest / "palette_np8.keras"
    card = (dest / "palette_np8.md").read_text()
    # No optimizer state: the shipped copy is smaller than the trainer's (which keeps Adam's slots).
    assert shipped.stat().st_size < (run / "palette_net.keras").stat().st_size
    assert "| net+kmeans | none |" in card and "| median-cut | none |" in card
    assert "trainers/train_palette" in card and "--np=8" in card and "3 images" in card
    again = run_trainer("ship_model", *args, cwd=cwd)  # never replaces shipped weights silently
    assert again.returncode != 0 and "--force" in again.stderr
    bad = run_trainer("ship_model", "--kind=palette", f"--run={tmp_path}", cwd=cwd)
    assert bad.returncode != 0 and "config.json" in bad.stderr


def test_ship_model_takes_an_unfinished_dither_run_from_its_encoder_checkpoint(palette_run, tmp_path):
    import shutil

    import numpy as np

    from gif_pipeline.weights import registry

    cwd, _ = palette_run
    run = tmp_path / "dither_run"
    r = run_trainer("train_dither", *TINY_DITHER, "--steps=2", "--checkpoint_every=1", "--perceptual=csf",
                    "--refine_palette=2", "--delta=0", f"--model_dir={run}", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    finished = registry.load("dither", explicit=str(run / "dither_net.keras"))
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    (unfinished / "dither_net.keras").unlink()  # as if the run were still going
    dest = tmp_path / "weights"
    r = run_trainer("ship_model", "--kind=dither", f"--run={unfinished}", f"--val={checks.FIXTURES}",
                    f"--dest={dest}", "--max_images=1", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    shipped = registry.load("dither", explicit=str(dest / "dither_np8.keras"))
    for a, b in zip(finished.weights, shipped.weights):  # the best epoch's weights, as the finished run kept
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert "| kmeans | net |" in (dest / "dither_np8.md").read_text()


def test_reproduce_command_gives_list_flags_once_and_multi_flags_per_value():
    from trainers import ship_model

    cmd = ship_model.reproduce_command({"flags": {"nested_sizes": ["16", "32"], "data": ["a", "b"], "np": 32,
                                                  "cache": True, "augment": False, "resume": True}}, "palette")
    assert cmd.startswith("trainers/train_palette ")
    assert "--nested_sizes=16,32" in cmd and "--data=a --data=b" in cmd and "--np=32" in cmd
    assert "--cache" in cmd and "--noaugment" in cmd and "resume" not in cmd


def test_reproduce_command_of_a_dither_fine_tune_leaves_out_the_ignored_channel_flags():
    from trainers import ship_model

    flags = {"np": 16, "block_channels": ["16", "32"], "bottleneck_channels": ["512", "512"], "vif": 1.5}
    fresh = ship_model.reproduce_command({"flags": flags}, "dither")
    assert "--bottleneck_channels=512,512" in fresh and "--block_channels=16,32" in fresh
    tuned = ship_model.reproduce_command({"flags": {**flags, "init_from": "runs/a/dither_net.keras"}}, "dither")
    assert "channels" not in tuned and "--init_from=runs/a/dither_net.keras" in tuned and "--vif=1.5" in tuned


@pytest.mark.slow  # ~125 s: three trainer processes (2026-12-08 suite at 15+ min); -m slow runs it
def test_stage_two_trains_on_a_nested_palette_nets_first_colours(tmp_path):
    import numpy as np

    from gif_pipeline.weights import registry
    from trainers import ship_model

    nested = tmp_path / "nested"
    r = run_trainer("train_palette", *[f for f in TINY_PALETTE if not f.startswith("--np=")], "--np=16",
                    "--nested_sizes=8,16", "--steps=1", "--checkpoint_every=1", f"--model_dir={nested}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "dither8"
    r = run_trainer("train_dither", *TINY_DITHER, "--steps=1", "--checkpoint_every=1", "--delta=0",
                    f"--palette_model={nested / 'palette_net.keras'}", f"--model_dir={run}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((run / "config.json").read_text())
    assert record["palette_colors"] == 8 and record["palette_model"].endswith("palette_net.keras")
    # ship_model rebuilds the encoder with the same 8-colour prefix to read an unfinished run's checkpoint.
    rebuilt = ship_model._dither_net_from_encoder_checkpoint(record, str(run / "best.weights.h5"))
    finished = registry.load("dither", explicit=str(run / "dither_net.keras"))
    for a, b in zip(finished.weights, rebuilt.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Stage 3 would train the whole nested network for one prefix: refused in one line.
    r = run_trainer("train_joint", "--np=8", "--steps=1", "--delta=0", "--image_size=32", "--batch_size=2",
                    f"--palette_model={nested / 'palette_net.keras'}", f"--dither_model={run / 'dither_net.keras'}",
                    f"--model_dir={tmp_path / 'joint'}", cwd=tmp_path)
    assert r.returncode != 0 and "not --np=8" in r.stderr.strip().splitlines()[-1]


def test_init_from_copies_the_head_only_when_np_output_and_head_match(tmp_path):
    import keras
    import numpy as np

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import PaletteNet
    from trainers.train_palette import init_from_palette_net

    keras.utils.set_random_seed(1)
    config = PaletteNetConfig.tiny(num_colors=8, output="whitened")
    source = PaletteNet(config)
    source.save(tmp_path / "source.keras")
    same, other = PaletteNet(config), PaletteNet(config.replace(num_colors=16))
    fresh_head = [w.copy() for w in other.palette_dense.get_weights()]
    for model in (same, other):
        init_from_palette_net(model, str(tmp_path / "source.keras"))
        for a, b in zip(model.backbone.get_weights(), source.backbone.get_weights()):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(same.palette_dense.get_weights(), source.palette_dense.get_weights()):
        np.testing.assert_array_equal(a, b)  # a fine-tune: the whole network
    for a, b in zip(other.palette_dense.get_weights(), fresh_head):
        np.testing.assert_array_equal(a, b)  # another Np keeps its own head
    with pytest.raises(SystemExit, match="different backbone"):
        init_from_palette_net(PaletteNet(config.replace(depth_multiplier=0.25)), str(tmp_path / "source.keras"))
    # The slot head: from a dense network only the backbone; from a slot network of its Np, all of it.
    slots_config = config.replace(output="direct", head="slots", slot_hidden=8)
    slots = PaletteNet(slots_config)
    fresh = [w.copy() for layer in slots.head_layers for w in layer.get_weights()]
    init_from_palette_net(slots, str(tmp_path / "source.keras"))
    for a, b in zip([w for layer in slots.head_layers for w in layer.get_weights()], fresh):
        np.testing.assert_array_equal(a, b)
    slots.save(tmp_path / "slots.keras")
    again = PaletteNet(slots_config)
    init_from_palette_net(again, str(tmp_path / "slots.keras"))
    for a, b in zip(again.get_weights(), slots.get_weights()):
        np.testing.assert_array_equal(a, b)
    # A nested slot network of more colours: its first 8 colours start as the source's palette.
    nested = PaletteNet(slots_config.replace(num_colors=16, nested_sizes=(8, 16)))
    init_from_palette_net(nested, str(tmp_path / "slots.keras"))
    crops = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(nested(crops).numpy()[:, :8], slots(crops).numpy(), atol=1e-5)


def test_init_from_takes_the_sources_head_of_the_runs_size_with_its_refinement(tmp_path):
    import keras
    import numpy as np
    from absl.app import UsageError

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import PaletteNet
    from trainers import ship_model
    from trainers.train_palette import init_from_palette_net

    keras.utils.set_random_seed(2)
    config = PaletteNetConfig.tiny(num_colors=8, head="slots", slot_hidden=8, refine_rounds=1)
    source = PaletteNet(config.replace(head_sizes=(16,)))
    source.extra_heads[0].head_layers[4].log_b.assign([2.5])
    source.save(tmp_path / "source.keras")
    run = PaletteNet(config.replace(num_colors=16))
    init_from_palette_net(run, str(tmp_path / "source.keras"))
    crops = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(run(crops), source.palette(crops, 16), atol=1e-6)
    # A one-pass network's head, without refinement: its layers, and the run's refinement starts fresh.
    plain = PaletteNet(config.replace(refine_rounds=0))
    plain.save(tmp_path / "plain.keras")
    refined = PaletteNet(config)
    fresh = refined.slot_refine.get_weights()
    init_from_palette_net(refined, str(tmp_path / "plain.keras"))
    for a, b in zip(refined.head_layers[:4], plain.head_layers):
        for u, v in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(u, v)
    for u, v in zip(refined.slot_refine.get_weights(), fresh):
        np.testing.assert_array_equal(u, v)
    # One file's heads refine alike: a run with other rounds than the base is refused.
    (tmp_path / "other").mkdir()
    PaletteNet(config.replace(num_colors=16, refine_rounds=2)).save(tmp_path / "other" / "palette_net.keras")
    (tmp_path / "other" / "config.json").write_text('{"stage": "palette", "weights": "palette_net.keras"}')
    with pytest.raises(UsageError, match="refine_rounds=2"):
        ship_model.join_heads(refined, [str(tmp_path / "other")])


@pytest.mark.slow  # ~155 s of training (2026-12-07 suite): the default suite had reached 15 min; -m slow runs it
def test_heads_trained_on_a_frozen_backbone_join_it_in_one_shipped_file(tmp_path):
    import keras
    import numpy as np

    from gif_pipeline.weights import registry

    slots = [*TINY_PALETTE, "--head=slots", "--steps=2", "--epochs=1", "--checkpoint_every=1"]
    assert run_trainer("train_palette", *slots, "--model_dir=base", "--seed=1", cwd=tmp_path).returncode == 0
    base = str(tmp_path / "base" / "palette_net.keras")
    lone = run_trainer("train_palette", *slots, "--freeze_backbone", cwd=tmp_path)
    assert lone.returncode != 0 and "--freeze_backbone needs --init_from" in lone.stderr
    for name, extra in (("h16", ["--freeze_backbone"]), ("free", [])):
        r = run_trainer("train_palette", *slots, "--np=16", f"--init_from={base}", f"--model_dir={name}",
                        "--seed=2", "--learning_rate=0.05", *extra, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
    source, head = (registry.load("palette", explicit=str(tmp_path / n / "palette_net.keras"))
                    for n in ("base", "h16"))
    for a, b in zip(head.backbone.get_weights(), source.backbone.get_weights()):  # weights and batch-norm statistics
        np.testing.assert_array_equal(a, b)
    dest = tmp_path / "weights"
    ship = ["--kind=palette", f"--run={tmp_path / 'base'}", f"--val={checks.FIXTURES}",
            f"--dest={dest}"]
    bad = run_trainer("ship_model", *ship, f"--add_heads={tmp_path / 'free'}", cwd=tmp_path)
    assert bad.returncode != 0 and "backbone differs" in bad.stderr
    r = run_trainer("ship_model", *ship, f"--add_heads={tmp_path / 'h16'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    joined = keras.saving.load_model(dest / "palette_np8.keras", compile=False)
    assert joined.served_colors == [8, 16]
    crops = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(joined.palette(crops, 16), head(crops), atol=1e-6)
    np.testing.assert_allclose(joined(crops), source(crops), atol=1e-6)
    card = (dest / "palette_np8.md").read_text()
    assert "## Extra slot heads" in card and "**16 colours**" in card and "--freeze_backbone" in card
    assert "| 16 | net | none |" in card and "| 8 | net | none |" in card


def test_a_shipped_file_as_the_base_keeps_its_cards_training_and_heads(tmp_path):
    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import PaletteNet
    from trainers import ship_model

    PaletteNet(PaletteNetConfig.tiny(num_colors=8, head="slots", head_sizes=(16,))).save(tmp_path / "palette_np8.keras")
    (tmp_path / "palette_np8.md").write_text(
        "# PaletteNet\n\n## Model\n- Config: old\n\n## Training (the 8-colour network)\n- Data: photos\n- Steps: 7\n\n"
        "## Extra slot heads (`head_sizes`)\n\nEach was trained alone.\n\n- **16 colours** (`runs/h16`): 3 epochs\n\n"
        "## Held-out numbers\n| old |\n")
    model, record, _ = ship_model.load_base_model(str(tmp_path / "palette_np8.keras"))
    assert record["card_training"] == "- Data: photos\n- Steps: 7"
    assert record["card_heads"] == "- **16 colours** (`runs/h16`): 3 epochs"
    card = ship_model.model_card("palette", "palette_np8.keras", model, record, [], 3, "val", 1.0)
    assert "- Data: photos\n- Steps: 7" in card and "- **16 colours** (`runs/h16`): 3 epochs" in card
    assert "| old |" not in card and '"head_sizes": [16]' in card


def test_run_weights_picks_the_finished_file_unless_the_run_is_still_running(tmp_path):
    """The ship scripts' one rule: the finished model file, else (absent, or config.json still "running") the best
    epoch's best.weights.h5; neither is one clear SystemExit."""
    from trainers.common import run_weights

    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(SystemExit, match="neither net.keras"):
        run_weights(str(run), "net.keras")
    (run / "best.weights.h5").write_bytes(b"h5")
    with pytest.raises(SystemExit, match="config.json"):
        run_weights(str(run), "net.keras")
    (run / "config.json").write_text(json.dumps({"model": {"width": 2}, "running": True}))
    (run / "net.keras").write_bytes(b"old run's model")
    path, record, finished = run_weights(str(run), "net.keras")
    assert (os.path.basename(path), record["model"], finished) == ("best.weights.h5", {"width": 2}, False)
    (run / "config.json").write_text(json.dumps({"model": {"width": 2}}))
    path, record, finished = run_weights(str(run), "net.keras")
    assert (os.path.basename(path), finished) == ("net.keras", True)
