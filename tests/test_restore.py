"""`gifnets restore` and the restore API on tiny untrained networks (installed through $GIFNETS_WEIGHTS)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import checks
from gif_pipeline import cli

PHOTO = os.path.join(checks.FIXTURES, "hopper_64.png")


def randomize_outputs(model, seed):
    """Random output convs for the (zero-initialized) corrective U-Nets, as training would give them."""
    from gif_pipeline.models.restore import ccdnet

    rng = np.random.default_rng(seed)
    for net in ccdnet.parts(model):
        layer = net.get_layer(f"{net.name}_out")
        layer.kernel.assign(rng.normal(0, 0.3, layer.kernel.shape).astype(np.float32))
    return model


@pytest.fixture(scope="session")
def tiny_restore_weights(tmp_path_factory):
    import keras

    from gif_pipeline.models.restore.ccdnet import build_ccdnet
    from gif_pipeline.models.restore.classifier import build_classifier
    from gif_pipeline.models.restore.config import CCDNetConfig, ClassifierConfig

    keras.utils.set_random_seed(26)
    folder = tmp_path_factory.mktemp("restore_weights")
    randomize_outputs(build_ccdnet(CCDNetConfig.tiny()), 1).save(folder / "ccdnet_plain.keras")
    randomize_outputs(build_ccdnet(CCDNetConfig.tiny(residual=True)), 2).save(folder / "ccdnet_dithered.keras")
    build_classifier(ClassifierConfig.tiny()).save(folder / "gif_classifier.keras")
    return folder


@pytest.fixture
def tiny_restore(tiny_restore_weights, monkeypatch):
    from gif_pipeline import restore

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_restore_weights))
    restore.clear_model_cache()
    yield tiny_restore_weights
    restore.clear_model_cache()


def _gif(path, rgb, colors=16, frames=1):
    ims = [Image.fromarray(np.roll(rgb, 3 * i, axis=1)).quantize(colors) for i in range(frames)]
    ims[0].save(path, save_all=frames > 1, append_images=ims[1:], duration=80, loop=0)
    return path


def test_restore_image_api_palette_routing_and_tiles(tiny_restore):
    from gif_pipeline import restore

    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    gif = np.asarray(Image.fromarray(rgb).quantize(16).convert("RGB"))
    result = restore.restore_image(gif, steps=2)
    assert result.image.shape == gif.shape and result.image.dtype == np.uint8
    assert result.model in ("plain", "dithered") and 0.0 <= result.probability <= 1.0
    assert result.palette_source == "distinct" and result.palette_colors <= 16
    forced = restore.restore_image(gif, steps=1, model="dithered")
    assert forced.model == "dithered" and forced.probability is None
    # a photo with more than 256 colours gets a median-cut palette, and says so
    assert restore.restore_image(rgb, steps=2, model="plain").palette_source == "median-cut-256"
    # tiles (32 px + 32-px halo on the 16-px grid) give the one-piece result
    big = np.tile(gif, (2, 2, 1))[:100, :90]
    whole = restore.restore_image(big, steps=2, model="plain", tile=512).image
    tiled = restore.restore_image(big, steps=2, model="plain", tile=32, halo=32).image
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    frames = restore.restore_frames([gif, gif[:, ::-1].copy()], steps=3, model="auto")
    assert len(frames) == 2 and frames[0].model == frames[1].model
    with pytest.raises(ValueError):
        restore.restore_image(gif, steps=4)


def test_restore_stays_consistent_with_the_gif(tiny_restore):
    from gif_pipeline import restore
    from gif_pipeline.models.restore import consistency

    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    gif = np.asarray(Image.fromarray(rgb).quantize(16).convert("RGB"))
    palette, _ = restore.image_palette(gif)
    spacing = consistency.nearest_other_distance(palette)[consistency.palette_indices(gif, palette)]
    for which in ("plain", "dithered"):
        kept = restore.restore_image(gif, steps=2, model=which)
        raw = restore.restore_image(gif, steps=2, model=which, consistent=False)
        assert kept.consistent and not raw.consistent and kept.stats()["consistent"] is True
        change = np.linalg.norm(kept.image.astype(float) - gif, axis=2)
        # the limit, plus rounding to 8 bits
        assert np.all(change <= consistency.SETTINGS[which]["limit"] * spacing + 1.0)
        assert np.linalg.norm(raw.image.astype(float) - gif, axis=2).max() > change.max()
    # a photo is not a GIF of its median-cut palette: no post-step
    assert not restore.restore_image(rgb, steps=1, model="plain").consistent


def test_cli_stills_batch_json_and_bad_inputs(tiny_restore, tmp_path, capsys):
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    good = _gif(tmp_path / "good.gif", rgb)
    tiny = _gif(tmp_path / "one.gif", rgb[:1, :1])
    not_gif = tmp_path / "fake.gif"
    not_gif.write_bytes(b"this is not a gif at all")
    whole = (tmp_path / "good.gif").read_bytes()
    truncated = tmp_path / "truncated.gif"
    truncated.write_bytes(whole[: len(whole) // 3])
    zero = tmp_path / "zero.gif"
    zero.write_bytes(whole[:13 + 48] + b";")  # header + colour table, no image: zero frames
    inputs = [str(good), str(not_gif), str(truncated), str(zero), str(tiny), PHOTO]
    code = cli.main(["restore", *inputs, "-o", str(tmp_path / "out"), "--json", "-q"])
    captured = capsys.readouterr()
    assert code == 2
    stats = {os.path.basename(s["input"]): s for s in map(json.loads, captured.out.splitlines())}
    assert set(stats) == {"good.gif", "one.gif", "hopper_64.png"}
    assert stats["good.gif"]["input_is_gif"] and "note" not in stats["good.gif"]
    assert stats["hopper_64.png"]["note"] == "not a GIF: restored anyway"
    for s in stats.values():
        assert s["model"] in ("plain", "dithered") and 0 <= s["dithered_probability"] <= 1 and s["steps"] == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("gifnets: error:")]
    assert len(errors) == 3 and all(any(n in e for e in errors) for n in ("fake.gif", "truncated.gif", "zero.gif"))
    assert sorted(os.listdir(tmp_path / "out")) == ["good.png", "hopper_64.png", "one.png"]
    with Image.open(tmp_path / "out" / "one.png") as im:
        assert im.size == (1, 1)
    # never an input, never an existing file without --force
    assert cli.main(["restore", str(good), "-o", str(good), "-q", "--force"]) == 2
    assert (tmp_path / "good.gif").read_bytes() == whole
    assert cli.main(["restore", str(good), "-o", str(tmp_path / "out" / "good.png"), "-q"]) == 2
    # --max-pixels refuses a large input with one line
    assert cli.main(["restore", str(good), "-o", str(tmp_path / "big.png"), "--max-pixels", "100", "-q"]) == 2
    assert not (tmp_path / "big.png").exists()


def test_cli_animations(tiny_restore, tmp_path):
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    anim = _gif(tmp_path / "anim.gif", rgb, frames=3)
    for name in ("a.webp", "a.png"):
        assert cli.main(["restore", str(anim), "-o", str(tmp_path / name), "-q", "--model", "plain"]) == 0
        with Image.open(tmp_path / name) as im:
            assert getattr(im, "n_frames", 1) == 3 and im.size == (64, 64)
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "frames"), "-q", "--steps", "1"]) == 0
    assert sorted(os.listdir(tmp_path / "frames")) == [f"frame_{i:05d}.png" for i in range(3)]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary left behind


# ------------------------------------------------------------------------------------------------ LiteRT runtime
def _export_restore_runtime(weights, folder, *extra):
    """``python -m export.export_runtime --weights folder --kinds restore`` (in this process) on a copy of ``weights``;
    the command checks each file against Keras and fails otherwise."""
    import shutil

    from export import export_runtime

    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(weights):
        shutil.copy(os.path.join(weights, name), os.path.join(folder, name))
    saved = os.environ.get("GIFNETS_WEIGHTS")
    try:
        assert export_runtime.main(["--weights", str(folder), "--kinds", "restore", *extra]) == 0
    finally:  # the command points $GIFNETS_WEIGHTS at its folder
        os.environ.pop("GIFNETS_WEIGHTS") if saved is None else os.environ.__setitem__("GIFNETS_WEIGHTS", saved)
    assert sorted(f for f in os.listdir(folder) if f.endswith(".tflite")) == [
        "ccdnet_dithered.tflite", "ccdnet_plain.tflite", "gif_classifier.tflite"]
    return folder


@pytest.fixture(scope="session")
def tiny_restore_runtime(tiny_restore_weights, tmp_path_factory):
    """The tiny networks with their LiteRT models as the command builds them by default (float16 weights); built
    once per test session, also under xdist (the workers share the session's temporary folder, the first builds)."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "restore_runtime"
    with open(shared / "restore_runtime.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            _export_restore_runtime(tiny_restore_weights, folder)
            (folder / "done").write_text("")
    return folder


def test_litert_restore_from_several_threads_gives_each_call_its_own_result(tiny_restore_runtime, monkeypatch):
    """The cached LiteRT models are shared by threads (a service's thread pool, a tf.data map): GIFs of different
    sizes and palette sizes restored at once come out as they do one at a time (before the runtime's lock, one
    call resized the interpreter's palette input under another: "Dimension mismatch")."""
    from concurrent.futures import ThreadPoolExecutor

    from gif_pipeline import restore

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_restore_runtime))
    monkeypatch.delenv("GIFNETS_BACKEND", raising=False)
    restore.clear_model_cache()
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    gifs = [np.asarray(Image.fromarray(rgb[: 32 + 16 * (i % 3), : 48 + 16 * (i % 2)]).quantize(8 + 5 * i).convert("RGB"))
            for i in range(8)]
    alone = [restore.restore_image(g, steps=2, model="plain").image for g in gifs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            together = list(pool.map(lambda g: restore.restore_image(g, steps=2, model="plain"), gifs))
            assert all(r.backend == "litert" for r in together)
            for a, b in zip(alone, together):
                np.testing.assert_array_equal(a, b.image)


def test_litert_restores_as_keras_does_and_tiles_as_one_piece(tiny_restore_runtime, monkeypatch):
    """The shipped configuration (float16 weights) through the API: LiteRT (``auto``, the .tflite files installed)
    against Keras (``tf``), the consistency post-step on."""
    from gif_pipeline import restore

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_restore_runtime))
    monkeypatch.delenv("GIFNETS_BACKEND", raising=False)
    restore.clear_model_cache()
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    plain = Image.fromarray(rgb).quantize(16)
    gifs = [np.asarray(plain.convert("RGB")),
            np.asarray(Image.fromarray(rgb).quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB"))]
    for gif, which in zip(gifs, ("plain", "dithered")):
        assert abs(restore.classify(gif, backend="litert") - restore.classify(gif, backend="tf")) < 1e-2
        for steps in (1, 2, 3):
            lite = restore.restore_image(gif, steps=steps, model=which)
            keras_ = restore.restore_image(gif, steps=steps, model=which, backend="tf")
            assert lite.backend == "litert" and keras_.backend == "tf" and lite.consistent
            diff = np.abs(lite.image.astype(int) - keras_.image.astype(int))
            # float16 weights move the float output by up to ~2 levels, and a flipped palette projection (later
            # steps) or quantization cell (post-step) moves a few pixels more (export_runtime.RESTORED_OVER_1);
            # the float32 files agree within one level everywhere (the next test).
            assert np.mean(diff > 1) <= 1e-3 and np.mean(diff) < 0.05, (which, steps, np.mean(diff > 1))
    # tiles (32 px + 32-px halo) give the one-piece result on LiteRT too (interpreter inputs resized per tile)
    big = np.tile(gifs[0], (2, 2, 1))[:100, :90]
    whole = restore.restore_image(big, steps=2, model="plain", tile=512).image
    tiled = restore.restore_image(big, steps=2, model="plain", tile=32, halo=32).image
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    frames = restore.restore_frames(gifs, steps=2)
    assert all(f.backend == "litert" for f in frames)
    restore.clear_model_cache()


def test_float32_restore_models_agree_within_one_level_and_float16_halves_the_weights(tiny_restore_weights,
                                                                                      tiny_restore_runtime):
    from export import export_runtime
    from gif_pipeline.models.restore import ccdnet, graph
    from gif_pipeline.runtime.litert import Model
    from gif_pipeline.weights import registry

    gifs = export_runtime._check_gifs(export_runtime._check_images())
    for which in ("plain", "dithered"):
        net = registry.load(f"ccdnet_{which}", explicit=str(tiny_restore_weights / f"ccdnet_{which}.keras"))
        data = export_runtime.convert(graph.runtime_functions(net), float16=False)
        worst = export_runtime.check_ccdnet(net, data, gifs, which)  # CCDNet-1, -2, -3, post-step on
        assert worst["restored"] <= 1 and worst["float"] < 0.5, (which, worst)
        shipped = os.path.join(tiny_restore_runtime, f"ccdnet_{which}.tflite")
        weights16 = [d for d in Model(shipped).interpreter.get_tensor_details() if d["dtype"] == np.float16]
        step1 = ccdnet.parts(net)[0]  # the tensors listed are the first signature's (step1)
        kernels = sum(int(np.prod(w.shape)) for layer in step1.layers for w in layer.weights if w.path.endswith("kernel"))
        assert sum(int(np.prod(d["shape"])) for d in weights16) >= kernels  # every conv kernel stored as float16
        assert os.path.getsize(shipped) < len(data)


def _restore_cli(folder, cwd, *extra, hide_tf=True):
    """`gifnets restore` in a fresh process on the weights in ``folder`` (TensorFlow hidden: the runtime install)."""
    import subprocess
    import sys

    hide = "sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n" if hide_tf else ""
    script = (f"import sys\n{hide}from gif_pipeline import cli\nrc = cli.main({['restore', *extra]!r})\n"
              "print('TF', sys.modules.get('tensorflow') is not None, sys.modules.get('keras') is not None)\nsys.exit(rc)")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "GIFNETS_WEIGHTS": str(folder), "PYTHONPATH": checks.ROOT})


def test_restore_on_the_runtime_install_imports_no_tensorflow(tiny_restore_runtime, tmp_path):
    import shutil

    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    gif = _gif(tmp_path / "in.gif", rgb)
    r = _restore_cli(tiny_restore_runtime, tmp_path, str(gif), "-o", str(tmp_path / "out.png"), "--json", "-q")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout.splitlines()[0])
    assert stats["backend"] == "litert" and 0 <= stats["dithered_probability"] <= 1
    assert r.stdout.splitlines()[-1] == "TF False False", r.stdout  # nor imported where TensorFlow is installed
    r = _restore_cli(tiny_restore_runtime, tmp_path, str(gif), "-o", str(tmp_path / "out2.png"), "-q", hide_tf=False)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "TF False False", (r.stdout, r.stderr)
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (64, 64)
    # without the dithered CCDNet's LiteRT model, --model plain still runs; auto needs TensorFlow for it: one line
    folder = tmp_path / "w"
    shutil.copytree(tiny_restore_runtime, folder)
    os.remove(folder / "ccdnet_dithered.tflite")
    r = _restore_cli(folder, tmp_path, str(gif), "-o", str(tmp_path / "p.png"), "-q", "--model", "plain")
    assert r.returncode == 0, r.stderr
    r = _restore_cli(folder, tmp_path, str(gif), "-o", str(tmp_path / "a.png"), "-q")
    assert r.returncode == 2 and not (tmp_path / "a.png").exists()
    assert r.stderr.strip().splitlines() == ["gifnets: error: gifnets restore (no LiteRT model ccdnet_dithered.tflite is "
                                             "installed) needs TensorFlow, which this install lacks: pip install "
                                             "\"gifnets[train]\""], r.stderr
    # --backend litert without the file, and a truncated file: one error naming the file and the command
    r = _restore_cli(folder, tmp_path, str(gif), "-o", str(tmp_path / "b.png"), "-q", "--backend", "litert",
                     "--model", "dithered")
    assert r.returncode == 2 and "ccdnet_dithered.tflite is missing" in r.stderr
    assert "python -m export.export_runtime" in r.stderr, r.stderr
    with open(folder / "ccdnet_plain.tflite", "r+b") as f:
        f.truncate(1000)
    r = _restore_cli(folder, tmp_path, str(gif), "-o", str(tmp_path / "c.png"), "-q", "--model", "plain")
    assert r.returncode == 2 and "ccdnet_plain.tflite" in r.stderr and "export_runtime" in r.stderr, r.stderr
    assert not (tmp_path / "c.png").exists()


def test_restore_speed_benchmark_prints_both_backends(tiny_restore_runtime, monkeypatch, capsys):
    import sys

    from gif_pipeline import restore

    sys.path.insert(0, checks.ROOT)
    from benchmarks import restore_speed

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_restore_runtime))
    monkeypatch.delenv("GIFNETS_THREADS", raising=False)
    restore.clear_model_cache()
    restore_speed.main(["--size", "48", "--repeats", "1", "--rounds", "1", "--steps", "1,2", "--litert-threads", "1,2"])
    restore_speed.main(["--agree", checks.FIXTURES, "--steps", "1"])
    restore.clear_model_cache()
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    timed = [r for r in rows if r[0].strip() in ("tf", "litert") and r[1].strip() != "threads"]
    assert sorted((r[0].strip(), r[1].strip(), r[2].strip()) for r in timed) == sorted(
        (b, t, k) for k in "12" for b, t in (("tf", "default"), ("litert", "1"), ("litert", "2")))
    assert all(float(r[4]) > 0 for r in timed) and "LiteRT models: ccdnet_plain.tflite" in out
    compared = [r for r in rows if r[0].strip().startswith("litert,")]
    assert len(compared) == 4 and all(float(r[3].strip(" %")) <= 0.1 for r in compared)
    agreed = [r for r in rows if r[0].strip() in ("plain", "fs")]
    assert len(agreed) == 2 and all(float(r[3].strip(" %")) <= 0.1 for r in agreed)  # float16: 99.9 % within 1 level

@pytest.fixture(scope="module")
def tiny_restore_interp_weights(tiny_restore_weights, tmp_path_factory):
    """The tiny restore networks plus a tiny InterpNet, in one $GIFNETS_WEIGHTS folder."""
    import shutil

    import keras

    from gif_pipeline.models.interp.config import InterpNetConfig
    from gif_pipeline.models.interp.interp_net import build_interp_net

    folder = tmp_path_factory.mktemp("restore_interp_weights")
    for name in os.listdir(tiny_restore_weights):
        shutil.copy(tiny_restore_weights / name, folder / name)
    keras.utils.set_random_seed(27)
    build_interp_net(InterpNetConfig.tiny(), sample_size=16).save(folder / "interp.keras")
    return folder


@pytest.fixture
def tiny_restore_interp(tiny_restore_interp_weights, monkeypatch):
    from gif_pipeline import interpolate, restore

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_restore_interp_weights))
    restore.clear_model_cache()
    interpolate.clear_cache()
    yield tiny_restore_interp_weights
    restore.clear_model_cache()
    interpolate.clear_cache()


def test_cli_restore_interpolate_keeps_the_timing_and_the_restored_frames(tiny_restore_interp, tmp_path, capsys):
    import imageio_ffmpeg

    from gif_pipeline import restore
    from gif_pipeline.cli.restore import read_frames

    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))[:48]
    anim = _gif(tmp_path / "anim.gif", rgb, frames=3)  # 3 frames of 80 ms
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "o.mp4"), "--interpolate", "4", "--model", "plain",
                     "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["factor"] == 4 and stats["frames_out"] == 12 and stats["model"] == "plain"
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "o.mp4")) == (12, 0.24)
    # a folder of PNGs: the kept frames are the restored GIF frames (what `gifnets restore` alone gives)
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "frames"), "--fps", "20", "--model", "plain"]) == 0
    assert "factor 2" in capsys.readouterr().err
    names = sorted(os.listdir(tmp_path / "frames"))
    assert names == [f"{i:04d}.png" for i in range(6)]
    frames, _, _ = read_frames(str(anim), 1 << 30)
    want = [r.image for r in restore.restore_frames(frames, model="plain")]
    got = [np.asarray(Image.open(tmp_path / "frames" / n).convert("RGB")) for n in names]
    for i in range(3):
        np.testing.assert_array_equal(got[2 * i], want[i])
    assert not np.array_equal(want[0], frames[0])  # the restoration did change the GIF's colours
    np.testing.assert_array_equal(got[5], want[2])  # the last frame is held
    # a GIF output: 12 frames of 20 ms (or the held last frame merged: the same 240 ms)
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "o.gif"), "--interpolate", "4", "-q"]) == 0
    with Image.open(tmp_path / "o.gif") as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert sum(durations) == 240 and im.n_frames in (9, 10, 11, 12)


def test_cli_restore_interpolate_bad_input(tiny_restore_interp, tmp_path, capsys):
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))[:32, :32]
    anim = _gif(tmp_path / "anim.gif", rgb, frames=2)
    for bad in ("3", "0"):
        with pytest.raises(SystemExit) as e:
            cli.main(["restore", str(anim), "-o", str(tmp_path / "x.mp4"), "--interpolate", bad])
        assert e.value.code == 2 and f"--interpolate must be 2, 4 or 8, got '{bad}'" in capsys.readouterr().err
    # a still GIF: said (one line, exit 2), and the restored still written
    still = _gif(tmp_path / "still.gif", rgb)
    assert cli.main(["restore", str(still), "-o", str(tmp_path / "still.gif.mp4"), "--interpolate", "2"]) == 2
    err = capsys.readouterr().err
    assert "nothing to interpolate" in err and "restored still" in err and err.count("\n") == 1
    import imageio_ffmpeg

    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "still.gif.mp4"))[0] == 1
    # --fps under the input's rate, an APNG (interpolation writes .mp4/.gif/.webp/folders): nothing written
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "slow.mp4"), "--fps", "5", "-q"]) == 2
    assert "already plays" in capsys.readouterr().err
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "o.png"), "--interpolate", "2", "-q"]) == 2
    assert "cannot write .png" in capsys.readouterr().err
    assert not (tmp_path / "slow.mp4").exists() and not (tmp_path / "o.png").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_cli_restore_interpolate_flows_from_the_gif_or_the_restored_frames(tiny_restore_interp, tmp_path, capsys):
    """--flows: GIF2Video's parallel (flows from the GIF frames) and sequential (from the restored frames) variants
    share the kept (restored) frames and differ in between; --flows without interpolation is a usage error."""
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))[:48]
    anim = _gif(tmp_path / "anim.gif", rgb, frames=3)
    out = {}
    for flows in ("gif", "restored"):
        assert cli.main(["restore", str(anim), "-o", str(tmp_path / flows), "--interpolate", "2", "--model", "plain",
                         "--flows", flows, "-q"]) == 0
        out[flows] = [np.asarray(Image.open(tmp_path / flows / f"{i:04d}.png").convert("RGB")) for i in range(6)]
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "default"), "--interpolate", "2", "--model", "plain",
                     "-q"]) == 0
    default = [np.asarray(Image.open(tmp_path / "default" / f"{i:04d}.png").convert("RGB")) for i in range(6)]
    for i in (0, 2, 4, 5):  # kept frames (and the held last one): the restored GIF frames either way
        np.testing.assert_array_equal(out["gif"][i], out["restored"][i])
    assert any(not np.array_equal(out["gif"][i], out["restored"][i]) for i in (1, 3))
    for i in range(6):  # the tiny network's config says "gif": the default
        np.testing.assert_array_equal(default[i], out["gif"][i])
    assert cli.main(["restore", str(anim), "-o", str(tmp_path / "still.png"), "--flows", "restored"]) == 2
    assert "--flows applies to frame interpolation" in capsys.readouterr().err
    assert not (tmp_path / "still.png").exists()


def test_motion_examples_carry_the_restored_frames_when_asked(tiny_restore_interp):
    """``MotionConfig(restored=True)`` (``train_interp --restored_inputs``): each example also holds its GIF frames
    restored as ``gifnets restore`` restores them (the model of the example's kind), and the tf.data pipeline
    batches them."""
    from gif_pipeline import restore
    from gif_pipeline.data import motion

    config = motion.MotionConfig(crop_size=32, batch_size=2, seed=5, restored=True)
    assert motion.example_keys(config)[:7] == ("gif0", "gif1", "frame0", "frame1", "frame_t", "image0", "image1")
    assert "image0" not in motion.example_keys(config.replace(restored=False))
    ex = motion.make_example(3, [PHOTO], [], config)
    plain = motion.make_example(3, [PHOTO], [], config.replace(restored=False))
    np.testing.assert_array_equal(ex["gif0"], plain["gif0"])  # the same example, plus the restored frames
    for key, gif in (("image0", ex["gif0"]), ("image1", ex["gif1"])):
        gif8 = np.rint((gif + 1.0) * 127.5).astype(np.uint8)
        want = restore.restore_image(gif8, model="dithered" if ex["dither"] else "plain").image
        np.testing.assert_array_equal(np.rint((ex[key] + 1.0) * 127.5).astype(np.uint8), want)
    assert not np.array_equal(ex["image0"], ex["gif0"])
    batch = next(iter(motion.build_dataset([os.path.dirname(PHOTO)], [], config, count=2)))
    assert batch["image0"].shape == (2, 32, 32, 3) and batch["t"].shape == (2,)


def test_interp_bench_ccdnet_rows(tiny_restore_interp):
    from gif_pipeline import interpolate
    from gif_pipeline.eval import interp as bench

    frames = np.stack([np.roll(np.asarray(Image.open(PHOTO).convert("RGB"))[:32, :48], 2 * i, axis=1)
                       for i in range(3)])
    methods = ("repeat (nearest)", "repeat (nearest) + CCDNet", "interpnet + CCDNet", "interpnet sequential + CCDNet")
    rows = bench.evaluate_clip("c", "synthetic", frames, interpolate.load_graph(), rates=(2,), colors=16,
                               methods=methods, videos=(videos := {}), video_rate=2)
    assert [r["method"] for r in rows] == list(methods)
    kept = bench.to_gif(frames[::2], 16)
    restored = bench.restore_all(kept, dither=False)
    np.testing.assert_array_equal(videos["repeat (nearest) + CCDNet"][::2], restored)
    np.testing.assert_array_equal(videos["interpnet + CCDNet"][::2], restored)  # kept frames: the restored ones
    assert rows[1]["psnr_kept"] != rows[0]["psnr_kept"]  # CCDNet changed the kept frames
    # the sequential row: the same kept frames, its new frame from flows read off the restored frames
    sequential = videos["interpnet sequential + CCDNet"]
    np.testing.assert_array_equal(sequential[::2], restored)
    want = np.stack(list(interpolate.iter_interpolated(kept, 2, restored=restored, flow_input="restored")))[:3]
    np.testing.assert_array_equal(sequential, want)
    assert not np.array_equal(sequential[1], videos["interpnet + CCDNet"][1])
    with pytest.raises(interpolate.InterpolationError, match="flow_input"):
        next(interpolate.iter_interpolated(kept, 2, flow_input="ccdnet"))
    # the reference rows: every true frame as a GIF (the kept ones are the same GIF frames), and that GIF restored
    rows = bench.evaluate_clip("c", "synthetic", frames, None, rates=(2,), colors=16, methods=bench.REFERENCES,
                               videos=(videos := {}), video_rate=2)
    every = videos["every frame (GIF)"]
    np.testing.assert_array_equal(every[::2], kept)
    np.testing.assert_array_equal(every[1], bench.to_gif(frames[1:2], 16)[0])
    np.testing.assert_array_equal(videos["every frame (GIF) + CCDNet"], bench.restore_all(every, dither=False))
    assert rows[1]["psnr_new"] != rows[0]["psnr_new"]


def test_the_numpy_router_routes_auto_on_both_backends(tiny_restore_runtime, tmp_path, monkeypatch):
    """With ``dither_router.json`` installed (the shipped one, copied beside the tiny networks) ``--model auto`` is
    routed by it, the same on LiteRT and TensorFlow, and on the runtime install; the CNN stays reachable."""
    import shutil

    from gif_pipeline import restore
    from gif_pipeline.weights import registry

    folder = tmp_path / "weights"
    shutil.copytree(tiny_restore_runtime, folder)
    monkeypatch.delenv("GIFNETS_WEIGHTS", raising=False)
    shutil.copy(registry.find_model("dither_router", search_runs=False), folder / "dither_router.json")
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(folder))
    restore.clear_model_cache()
    rgb = np.asarray(Image.open(PHOTO).convert("RGB").resize((128, 128), Image.LANCZOS))
    plain = Image.fromarray(rgb).quantize(32)
    dithered = Image.fromarray(rgb).quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG)
    gifs = {"plain": np.asarray(plain.convert("RGB")), "dithered": np.asarray(dithered.convert("RGB"))}
    assert restore.router_kind() == "router"
    for which, gif in gifs.items():
        lite = restore.restore_image(gif, steps=1, backend="litert")
        tf_ = restore.restore_image(gif, steps=1, backend="tf")
        assert lite.model == tf_.model == which and lite.router == tf_.router == "router"
        assert lite.probability == tf_.probability and lite.stats()["router"] == "router"
        assert 0 <= restore.classify(gif, router="cnn") <= 1  # the CNN classifier is still there
    restore.clear_model_cache()
    path = tmp_path / "dithered.gif"
    dithered.save(path)
    r = _restore_cli(folder, tmp_path, str(path), "-o", str(tmp_path / "out.png"), "--json", "-q", "--steps", "1")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout.splitlines()[0])
    assert stats["router"] == "router" and stats["model"] == "dithered" and stats["dithered_probability"] >= 0.5
