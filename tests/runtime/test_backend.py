"""The LiteRT runtime (gif_pipeline/runtime/): the same GIFs as the Keras path on tiny networks, no TensorFlow
imported, and one clear error (exit 2) for a missing or corrupt .tflite file or --backend tf without TensorFlow."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import checks
from gif_pipeline import encode
from gif_pipeline.runtime import backend

PHOTO = os.path.join(checks.ROOT, "gif_pipeline", "samples", "hopper.jpg")


def test_the_runtime_constants_are_the_tensorflow_paths():
    from gif_pipeline.models.gifnets import graph, palette_net
    from gif_pipeline.quant import palettes

    assert backend.REFINE_GRID_PIXELS == palettes.REFINE_GRID_PIXELS
    assert backend.SLOT_PIXELS == palette_net.SLOT_PIXELS and backend.PRUNE_GRID_PIXELS == graph.PRUNE_GRID_PIXELS
    assert all(backend.refine_schedule(i) == palettes.refine_schedule(i) for i in range(0, 31))


@pytest.fixture(scope="module")
def tiny_runtime(tiny_weights, tmp_path_factory):
    """The tiny networks with their runtime models (python -m export.export_runtime --weights DIR)."""
    folder = tmp_path_factory.mktemp("tiny_runtime")
    for name in os.listdir(tiny_weights):
        shutil.copy(os.path.join(tiny_weights, name), folder / name)
    r = subprocess.run([sys.executable, "-m", "export.export_runtime", "--weights", str(folder)], cwd=checks.ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(f for f in os.listdir(folder) if f.endswith(".tflite")) == ["dither_np8.tflite", "palette_np8.tflite"]
    return folder


@pytest.fixture
def use_tiny_runtime(tiny_runtime, monkeypatch):
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_runtime))
    monkeypatch.setenv("GIFNETS_PRECISION", "float32")
    encode.clear_model_cache()
    yield tiny_runtime
    encode.clear_model_cache()


def _palette_mse(rgb: np.ndarray, palette: np.ndarray) -> float:
    d = ((rgb.reshape(-1, 1, 3).astype(np.float64) - palette[None].astype(np.float64)) ** 2).sum(-1)
    return float(d.min(1).mean())


@pytest.mark.parametrize("palette,dither", [("net+kmeans", "net"), ("net", "none"), ("net+kmeans", "fs")])
def test_the_runtime_agrees_with_keras_on_tiny_networks(use_tiny_runtime, samples, palette, dither):
    """The same GIFs, but for a tie: the two runtimes round the nearest-colour scores differently (~1e-7), and a pixel
    that close to a boundary between two colours can flip in a Lloyd step, after which the palettes part (with
    TensorFlow 2.21 / LiteRT 2.3, retina at 8 colours: identical after one step, 7e-3 apart after two). At most one
    of the six images x sizes may part that way, and then its palette must be as good as the Keras one."""
    parted = []
    for name, rgb in samples.items():
        for n in (8, 5):  # the head, and a pruned one
            want = encode.encode_image(rgb, n, palette, dither, backend="tf")
            got = encode.encode_image(rgb, n, palette, dither, backend="litert")
            assert got.methods == want.methods
            if not (np.mean(got.indices == want.indices) >= 0.99 and np.mean(np.all(got.rgb == want.rgb, -1)) >= 0.99):
                parted.append((name, n, _palette_mse(rgb, got.palette), _palette_mse(rgb, want.palette)))
    assert len(parted) <= (1 if palette == "net+kmeans" else 0), parted  # the network alone has no Lloyd step
    for name, n, got_mse, want_mse in parted:
        assert abs(got_mse - want_mse) <= 0.05 * want_mse, (name, n, got_mse, want_mse)


def test_tiled_dithering_on_the_runtime_equals_one_piece(use_tiny_runtime, samples, monkeypatch):
    from gif_pipeline.runtime import litert, ops
    from gif_pipeline.weights import registry

    rgb = np.tile(samples["hopper"], (2, 3, 1))[:-5, :-3]  # not multiples of 8: the padding is numpy's
    palette = np.unique(rgb.reshape(-1, 3)[::97], axis=0)[:8]
    model = litert.load("dither", registry.dither_net_for(len(palette)))
    x, unit = ops.image_to_unit(rgb)[None], palette.astype(np.float32) / 127.5 - 1.0
    shapes = []
    run = model.compiled("unet")
    monkeypatch.setitem(model._compiled, "unet", lambda part: shapes.append(part.shape) or run(part))
    whole = backend.dither_error(model, x, unit, budget=1 << 30)
    assert len(shapes) == 1 and shapes[0][1:3] == (x.shape[1] + -x.shape[1] % 8, x.shape[2] + -x.shape[2] % 8)
    # E' itself: with the halo (48 px) the tiles read all the context that matters, and only float rounding differs
    shapes.clear()
    tiled = backend.dither_error(model, x, unit, budget=96 * 96, halo=48)
    assert len(shapes) > 4 and len(set(shapes)) == 1  # equal windows: the interpreter allocates once
    np.testing.assert_allclose(tiled, whole, atol=1e-4)
    # and the network's own graph (pad, concatenation, crop in Keras) gives the same E'
    import keras

    from gif_pipeline.layers.folding import fold_batch_norm

    net = fold_batch_norm(keras.saving.load_model(os.path.join(use_tiny_runtime, "dither_np8.keras")), "float32")
    want = np.asarray(net([x, unit[ops.nearest_float(x, unit)]], training=False))
    np.testing.assert_allclose(whole, want, atol=1e-4)
    assert np.mean(backend.dithered_indices(rgb, palette, 1 << 30) == backend.dithered_indices(rgb, palette, 96 * 96)) >= 0.999


def test_warm_refine_samples_before_converting_and_skips_the_unread_fine_sample(use_tiny_runtime, samples):
    """refine_palette (an animation's warm start) converts only its samples to floats, and without fine steps passes
    the coarse sample as the graph's unread ``fine`` input: the palettes of the image-wide conversion and two
    samples, with and without a model handed in."""
    from gif_pipeline.runtime import ops

    rgb = samples["hopper"][3:, 5:]  # not contiguous
    palette = np.unique(rgb.reshape(-1, 3)[::53], axis=0)[:8]
    model = backend.refine_model(len(palette))
    x = ops.image_to_unit(rgb)[None]
    unit = (palette.astype(np.float32) / np.float32(127.5) - np.float32(1.0))[None]
    for steps, rounds, fine_steps in ((2, 0, 0), (2, 1, 1)):
        out = model.run("refine", coarse=ops.grid_pixels(x, backend.REFINE_GRID_PIXELS[0]),
                        fine=ops.grid_pixels(x, backend.REFINE_GRID_PIXELS[1]), palette=unit, steps=np.int32(steps),
                        rounds=np.int32(rounds), fine_steps=np.int32(fine_steps))["palette"]
        want = np.unique(ops.palette_to_uint8(out[0]), axis=0)
        np.testing.assert_array_equal(backend.refine_palette(rgb, palette, steps, rounds, fine_steps), want)
        np.testing.assert_array_equal(backend.refine_palette(rgb, palette, steps, rounds, fine_steps, model=model), want)


def test_the_compiled_model_api_and_the_interpreter_give_the_same_error(use_tiny_runtime, samples, monkeypatch):
    """DitherNet's ``unet`` runs on LiteRT's CompiledModel API (XNNPACK's transient indirection buffers: less memory);
    ``$GIFNETS_LITERT_API=interpreter`` runs it on the Interpreter, with the same E'."""
    from gif_pipeline.runtime import litert, ops
    from gif_pipeline.weights import registry

    rgb = samples["hopper"][:72, :88]
    x = ops.image_to_unit(rgb)[None]
    unit = np.unique(rgb.reshape(-1, 3)[::53], axis=0)[:8].astype(np.float32) / 127.5 - 1.0
    out = {}
    for api in ("compiled", "interpreter"):
        monkeypatch.setenv("GIFNETS_LITERT_API", api)
        litert.clear_cache()
        model = litert.load("dither", registry.dither_net_for(8))
        runner = model.compiled("unet")
        assert (getattr(runner, "__self__", None).__class__ is litert.CompiledSignature) == (api == "compiled")
        out[api] = backend.dither_error(model, x, unit)
    np.testing.assert_allclose(out["compiled"], out["interpreter"], atol=1e-5)
    litert.clear_cache()


def test_a_litert_batch_on_several_workers_gives_the_sequential_gifs(use_tiny_runtime, samples, monkeypatch):
    from gif_pipeline.runtime import litert

    slots = []

    class Recorded(litert.Model):
        def __init__(self, *args, **kwargs):
            slots.append(litert._slot())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(litert, "Model", Recorded)
    images = np.stack([rgb[:64, :64] for rgb in samples.values()] * 2)
    monkeypatch.setenv("GIFNETS_BATCH_WORKERS", "1")
    one = encode.encode_batch(images, 8, "net+kmeans", "net", backend="litert")
    assert set(slots) == {0}
    monkeypatch.setenv("GIFNETS_BATCH_WORKERS", "3")
    assert litert.batch_workers() == 3
    three = encode.encode_batch(images, 8, "net+kmeans", "net", backend="litert")
    assert [r.gif_bytes for r in three] == [r.gif_bytes for r in one]
    # the workers loaded interpreters of their own: one must never run in two threads at once
    assert len(set(slots) - {0}) >= 2


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_issue29_a_blue_noise_dither_net_on_the_runtime(tiny_runtime, samples, tmp_path, monkeypatch, upsample):
    """A DitherNet with a blue-noise input (issue 29) exports its texture (``texture``); the runtime builds the noise
    channels at each tile's position, so tiles on the 8-px grid give one piece's E' (the texture's own period does
    not constrain them), which is Keras's; a noise-free file has no ``texture``. Also with bilinear up-sampling (whose
    resize keeps the graph's shapes dynamic: slower, same numbers)."""
    import dataclasses

    import keras

    from export import export_runtime
    from gif_pipeline.layers.folding import fold_batch_norm
    from gif_pipeline.models.gifnets.dither_net import build_dither_net, config_of, with_noise_channels
    from gif_pipeline.runtime import litert, ops

    folder = tmp_path / "noise"
    shutil.copytree(tiny_runtime, folder)
    assert "texture" not in litert.load_file(str(folder / "dither_np8.tflite")).signatures
    net = keras.saving.load_model(folder / "dither_np8.keras")
    if upsample != "transpose":  # fresh weights, seeded: unseeded, a tile edge's E' once moved 2.06e-3 (> ERROR_ATOL)
        keras.utils.set_random_seed(29)
        net = build_dither_net(dataclasses.replace(config_of(net), upsample=upsample), name=net.name)
    net = with_noise_channels(net, 1, 32)
    kernel = net.get_layer("enc0_conv").kernel.numpy()
    kernel[:, :, 6:] = np.random.default_rng(0).normal(0, 2.0, kernel[:, :, 6:].shape)  # let the noise matter
    net.get_layer("enc0_conv").kernel.assign(kernel)
    net.save(folder / "dither_np8.keras")
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(folder))
    export_runtime.export_folder(str(folder), kinds=("dither",))  # checks one piece and tiles against Keras
    litert.clear_cache()
    model = litert.load_file(str(folder / "dither_np8.tflite"))
    np.testing.assert_array_equal(backend.dither_texture(model), net.get_layer("noise").get_weights()[0])
    rgb = np.tile(samples["hopper"], (2, 3, 1))
    palette = np.unique(rgb.reshape(-1, 3)[::97], axis=0)[:8]
    x, unit = ops.image_to_unit(rgb)[None], palette.astype(np.float32) / 127.5 - 1.0
    want = np.asarray(fold_batch_norm(net, "float32")([x, unit[ops.nearest_float(x, unit)]], training=False))
    whole = backend.dither_error(model, x, unit, budget=1 << 30)
    np.testing.assert_allclose(whole, want, atol=1e-4)
    # windows on the 8-px grid, most not on the 32-px texture's
    tiles = ops.tile_windows(x.shape[1], 3, 48) + ops.tile_windows(x.shape[2], 4, 48)
    assert any(start % 32 for _, _, start, _ in tiles)
    # (a bilinear resize at a window's edge clamps: its E' moves by up to 6e-4 there, within the export's check)
    atol = 1e-4 if upsample == "transpose" else export_runtime.ERROR_ATOL
    np.testing.assert_allclose(backend.dither_error(model, x, unit, budget=1, halo=48), whole, atol=atol)
    litert.clear_cache()


def _encode(folder, *extra, env=None, code=""):
    """`gifnets encode` in a fresh process on the weights in ``folder``; ``code`` runs first (e.g. hiding TF)."""
    out = os.path.join(folder, "out.gif")
    script = (f"import sys; {code}\nfrom gif_pipeline import cli\nrc = cli.main({['encode', PHOTO, '-o', out, '-f', *extra]!r})\n"
              "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)\nsys.exit(rc)")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=checks.ROOT,
                          env={**os.environ, "GIFNETS_WEIGHTS": str(folder), "PYTHONPATH": checks.ROOT, **(env or {})})


def test_the_runtime_never_imports_tensorflow(tiny_runtime):
    for extra in (["--colors", "8"], ["--colors", "6", "--palette", "net", "--dither", "none"],
                  ["--colors", "8", "--palette", "median-cut", "--dither", "fs"]):
        r = _encode(tiny_runtime, *extra, "--backend", "litert")
        assert r.returncode == 0, r.stderr
        assert "TF False False" in r.stdout, (extra, r.stdout)


def test_a_missing_or_corrupt_tflite_file_is_one_clear_error(tiny_runtime, tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(tiny_runtime, folder)
    os.remove(folder / "dither_np8.tflite")
    r = _encode(folder, "--colors", "8", "--backend", "litert")
    assert r.returncode == 2
    assert "dither_np8.tflite is missing" in r.stderr and "python -m export.export_runtime" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    with open(folder / "palette_np8.tflite", "r+b") as f:  # truncated
        f.truncate(1000)
    r = _encode(folder, "--colors", "8", "--dither", "fs", "--backend", "litert")
    assert r.returncode == 2
    assert "palette_np8.tflite" in r.stderr and "python -m export.export_runtime" in r.stderr, r.stderr


def test_a_replaced_shipped_tflite_file_is_refused(tmp_path):
    from gif_pipeline.weights import registry

    shipped = os.path.dirname(registry.__file__)
    folder = tmp_path / "w"
    folder.mkdir()
    for name in ("dither_np16.keras", "dither_np16.tflite", "dither_np16.md", "registry.json"):
        shutil.copy(os.path.join(shipped, name), folder / name)
    with open(folder / "dither_np16.tflite", "r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = _encode(folder, "--colors", "16", "--palette", "median-cut", "--dither", "net", "--backend", "litert")
    assert r.returncode == 2 and "dither_np16.tflite is corrupt or was replaced" in r.stderr, r.stderr


def test_backend_tf_without_tensorflow_names_the_extra(tiny_runtime):
    hide = "sys.modules['tensorflow'] = None; sys.modules['keras'] = None"
    r = _encode(tiny_runtime, "--colors", "8", "--backend", "tf", code=hide)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ['gifnets: error: --backend tf needs TensorFlow, which this install lacks: '
                                             'pip install "gifnets[train]"']
    r = _encode(tiny_runtime, "--colors", "8", env={"GIFNETS_BACKEND": "tf"}, code=hide)
    assert r.returncode == 2 and "gifnets[train]" in r.stderr
    r = _encode(tiny_runtime, "--colors", "8", "--backend", "litert", code=hide)  # the runtime needs none
    assert r.returncode == 0, r.stderr
    r = _encode(tiny_runtime, "--colors", "8", "--palette", "kmeans", "--backend", "litert", code=hide)
    assert r.returncode == 2 and "--palette kmeans" in r.stderr and "gifnets[train]" in r.stderr, r.stderr


NEEDS_TF = "needs TensorFlow, which this install lacks: pip install \"gifnets[train]\""
NEEDS_CODEC = "needs TensorFlow and constriction, which this install lacks: pip install \"gifnets[compress]\""


RESTORE_NEEDS_TF = "gifnets restore (no LiteRT model gif_classifier.tflite is installed) " + NEEDS_TF


@pytest.mark.parametrize("command,needs", [(["restore", "in.gif", "-o", "out.png"], RESTORE_NEEDS_TF),
                                           (["compress", "in.png", "-o", "out.gcz"], "gifnets compress " + NEEDS_CODEC),
                                           (["decompress", "in.gcz", "-o", "out.png"], "gifnets decompress " + NEEDS_CODEC),
                                           (["interpolate", "in.gif", "-o", "out.mp4", "--factor", "2"],
                                            "gifnets interpolate " + NEEDS_TF)])
def test_commands_that_need_tensorflow_say_which_extra_on_the_runtime_install(tmp_path, command, needs):
    """On the runtime install (no TensorFlow) restore, compress, decompress and interpolate are one line naming the
    extra, exit 2, before any file is read; a run on a fresh venv printed an internal error per file instead.
    (restore runs there when its LiteRT models are installed: tests/test_restore.py; here the weights folder is
    empty.)"""
    script = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\nfrom gif_pipeline import cli\n"
              f"sys.exit(cli.main({command!r}))")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": checks.ROOT, "GIFNETS_WEIGHTS": str(tmp_path)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"gifnets: error: {needs}"], r.stderr
