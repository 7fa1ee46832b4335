"""SavedModel (TF Serving) and TFLite export of the encoder (export/).

Tiny networks keep this fast: InceptionV2 PaletteNet at depth multiplier 0.1 (min depth 8) and a
DitherNet with (4, 8, 8, 8, 8) blocks and an (8, 8) bottleneck, exported once per module. Every
exported model is run and compared with the Keras networks it came from.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

import checks  # noqa: E402
from export import export_saved_model as esm  # noqa: E402
from export import export_tflite as etl  # noqa: E402
from gif_pipeline.errors import MissingPrerequisiteError  # noqa: E402
from gif_pipeline.io import gif as gif_io  # noqa: E402

NP = 16
SIZE = 64
DATA = checks.FIXTURES
NAMES = ("hopper", "hubble", "retina")


def tiny_bundle(mode="net+dither", kmeans_iterations=0, seed=0, dither_config=None):
    import keras

    from gif_pipeline.models.gifnets.config import DitherNetConfig, PaletteNetConfig
    from gif_pipeline.models.gifnets.dither_net import build_dither_net
    from gif_pipeline.models.gifnets.palette_net import build_palette_net

    keras.utils.set_random_seed(seed)
    palette_net = build_palette_net(PaletteNetConfig(num_colors=NP, depth_multiplier=0.1, min_depth=8))
    dither_net = None
    if "dither" in mode:
        dither_net = build_dither_net(dither_config or DitherNetConfig(block_channels=(4, 8, 8, 8, 8),
                                                                       bottleneck_channels=(8, 8)))
        # A random DitherNet's E' is tiny (its output layer starts small); make it matter for the tests.
        layer = dither_net.get_layer("error")
        layer.kernel.assign(layer.kernel * 20.0)
    return esm.EncoderBundle(palette_net, dither_net, NP, mode, kmeans_iterations, {"palette": "random:test"})


def sample(name, h=SIZE, w=SIZE):
    return np.ascontiguousarray(np.asarray(Image.open(os.path.join(DATA, f"{name}_64.png")).convert("RGB"))[:h, :w])


def unit(rgb):
    return tf.cast(rgb, tf.float32) / 127.5 - 1.0


def run_signature(fn, batch):
    return {k: v.numpy() for k, v in fn(image=tf.constant(batch)).items()}


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle()


@pytest.fixture(scope="module")
def exported(bundle, tmp_path_factory):
    """The SavedModel in TF Serving's layout, loaded; `saved_model_cli show/run` started in the
    background right away (they take a while to import TensorFlow) and collected by one test."""
    tmp = tmp_path_factory.mktemp("export")
    path = esm.export_saved_model(bundle, str(tmp / "serving"), "gifnets", 1)
    npy = str(tmp / "input.npy")
    np.save(npy, np.stack([sample("hopper", 24, 40), sample("retina", 24, 40)]))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    show = subprocess.Popen(["saved_model_cli", "show", "--all", "--dir", path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    run = subprocess.Popen(["saved_model_cli", "run", "--dir", path, "--tag_set", "serve", "--signature_def",
                            "serving_default", "--inputs", f"image={npy}", "--outdir", str(tmp / "cli_out")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    loaded = tf.saved_model.load(path)
    yield {"path": path, "base": str(tmp / "serving"), "loaded": loaded, "npy": npy, "show": show, "run": run,
           "cli_out": str(tmp / "cli_out")}
    for proc in (show, run):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def tflite_float32(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("tflite")
    return etl.export_tflite(bundle, str(out), SIZE, ["float32"])["float32"]


# ------------------------------------------------------------------------------------- SavedModel


def test_saved_model_layout_holds_every_variable(bundle, exported):
    path = exported["path"]
    assert path == os.path.join(exported["base"], "gifnets", "1")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    stored = dict(tf.train.list_variables(os.path.join(path, "variables", "variables")))
    stored_elements = sum(int(np.prod(shape)) for name, shape in stored.items() if "encoder_variables" in name)
    # What the graph reads: PaletteNet's head and folded backbone, DitherNet folded (no batch-norm statistics left).
    used = esm.tracked_variables(esm.encoder_graph(bundle).concrete_functions().values())
    assert stored_elements == sum(int(np.prod(v.shape)) for v in used) > 0
    assert not any("moving_mean" in name for name in stored)
    info = json.load(open(os.path.join(path, "assets.extra", "gifnets.json")))
    assert info["num_colors"] == NP and info["mode"] == "net+dither"
    with pytest.raises(esm.ExportError, match="already exists"):
        esm.export_saved_model(bundle, exported["base"], "gifnets", 1)
    with pytest.raises(esm.ExportError, match="version"):
        esm.export_saved_model(bundle, exported["base"], "gifnets", 0)


def test_serving_signature_shapes_and_dtypes(exported):
    fn = exported["loaded"].signatures["serving_default"]
    (spec,) = fn.structured_input_signature[1].values()
    assert spec.name == "image" and spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]
    outputs = fn.structured_outputs
    assert outputs["indices"].dtype == tf.uint8 and outputs["indices"].shape.as_list() == [None, None, None]
    assert outputs["palette"].dtype == tf.uint8 and outputs["palette"].shape.as_list() == [None, NP, 3]
    assert set(exported["loaded"].signatures) == {"serving_default", "debug_float"}


def test_serving_default_is_the_encoder_with_the_rounded_palette(bundle, exported):
    """Palette = round(PaletteNet), indices = nearest rounded colour to I + E' (Eq. 5), any size; DitherNet reads
    the image projected onto the rounded palette, as in `gifnets encode` (the one graph)."""
    from gif_pipeline.layers.common import palette_to_uint8
    from gif_pipeline.quant.projection import hard_projection

    batch = np.stack([sample("hubble", 37, 50), sample("hopper", 37, 50)])  # not multiples of 8
    out = run_signature(exported["loaded"].signatures["serving_default"], batch)
    assert out["indices"].shape == (2, 37, 50) and out["indices"].dtype == np.uint8

    x = unit(batch)
    palette = bundle.palette_net(x, training=False)
    np.testing.assert_array_equal(out["palette"], palette_to_uint8(palette))
    _, quantized = hard_projection(x, unit(out["palette"]))
    error = bundle.dither_net([x, quantized], training=False).numpy()
    assert np.abs(error).mean() > 0.01  # DitherNet really changes the target
    target = (x.numpy() + error) * 127.5 + 127.5  # in uint8 units
    distances = ((target[:, :, :, None, :] - out["palette"][:, None, None].astype(np.float64)) ** 2).sum(-1)
    expected = distances.argmin(-1)
    assert np.mean(out["indices"] == expected) >= 0.999
    # palette[indices] is the decoded GIF
    gif = gif_io.encode_gif(out["indices"][0], out["palette"][0])
    np.testing.assert_array_equal(gif_io.decode_gif_rgb(gif), out["palette"][0][out["indices"][0]])


def test_debug_signature_returns_the_float_encoder(bundle, exported):
    batch = sample("retina", 21, 30)[None]
    out = run_signature(exported["loaded"].signatures["debug_float"], batch)
    assert set(out) == {"quantized", "error", "palette"}
    x = unit(batch)
    np.testing.assert_allclose(out["palette"], bundle.palette_net(x, training=False).numpy(), atol=1e-5)
    assert out["quantized"].shape == (1, 21, 30, 3) and out["quantized"].dtype == np.float32
    # every pixel of the float image is one of the float palette colours
    gap = np.abs(out["quantized"][0][:, :, None, :] - out["palette"][0][None, None]).max(-1).min(-1)
    assert gap.max() < 1e-6
    assert np.abs(out["error"]).max() > 0 and np.abs(out["error"]).max() <= 1.0


def test_saved_model_cli_show_and_run(exported):
    show_out, show_err = exported["show"].communicate(timeout=600)
    assert exported["show"].returncode == 0, show_err[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['debug_float']", "inputs['image']",
                 "DT_UINT8", "outputs['indices']", "outputs['palette']", "(-1, -1, -1, 3)", f"(-1, {NP}, 3)"):
        assert text in show_out, text
    _, run_err = exported["run"].communicate(timeout=600)
    assert exported["run"].returncode == 0, run_err[-2000:]
    want = run_signature(exported["loaded"].signatures["serving_default"], np.load(exported["npy"]))
    for name in ("indices", "palette"):
        got = np.load(os.path.join(exported["cli_out"], f"{name}.npy"))
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want[name])


def test_palette_only_and_kmeans_modes():
    """Mode 'net' is nearest colour of the rounded palette; Lloyd refinement lowers Eq. 2's error."""
    from gif_pipeline.quant.projection import quantization_loss

    batch = np.stack([sample(n, 32, 32) for n in NAMES])
    net = tiny_bundle("net")
    out = {k: v.numpy() for k, v in esm.serving_outputs(net, tf.constant(batch)).items()}
    pal = out["palette"].astype(np.float64)
    nearest = ((batch[:, :, :, None].astype(np.float64) - pal[:, None, None]) ** 2).sum(-1).argmin(-1)
    assert np.mean(out["indices"] == nearest) >= 0.999

    refined = esm.EncoderBundle(net.palette_net, None, NP, "net+kmeans", 3)
    out_k = {k: v.numpy() for k, v in esm.serving_outputs(refined, tf.constant(batch)).items()}
    loss = [float(quantization_loss(unit(batch), unit(o["palette"]))) for o in (out, out_k)]
    assert loss[1] < loss[0]
    with pytest.raises(esm.ExportError, match="kmeans_iterations"):
        esm.EncoderBundle(net.palette_net, None, NP, "net+kmeans", 0)
    with pytest.raises(esm.ExportError, match="DitherNet"):
        esm.EncoderBundle(net.palette_net, None, NP, "net+dither")


def test_load_encoder_sources(tmp_path):
    with pytest.raises(MissingPrerequisiteError):
        esm.load_encoder(NP, "net", init="trained", palette_model=str(tmp_path / "missing.keras"))
    with pytest.raises(esm.ExportError, match="mode"):
        esm.load_encoder(NP, "dither-only")
    import keras

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import build_palette_net

    keras.utils.set_random_seed(1)  # a PointNet palette net saves and loads much faster than InceptionV2
    net = build_palette_net(PaletteNetConfig(num_colors=NP, backbone="pointnet", pointnet_widths=(8, 8)))
    path = str(tmp_path / "palette.keras")
    net.save(path)
    bundle = esm.load_encoder(NP, "net", init="trained", palette_model=path)
    assert bundle.sources == {"palette": f"trained:{os.path.abspath(path)}"} and bundle.dither_net is None
    x = unit(sample("hopper", 16, 16)[None])
    np.testing.assert_allclose(bundle.palette_net(x).numpy(), net(x).numpy(), atol=1e-6)
    with pytest.raises(esm.ExportError, match="predicts 16 colours"):
        esm.load_encoder(8, "net", init="trained", palette_model=path)


# ----------------------------------------------------------------------------------------- TFLite


def test_tflite_float32_reproduces_the_saved_model(exported, tflite_float32):
    assert etl.non_builtin_ops(tflite_float32) == []
    encoder = etl.TFLiteEncoder(tflite_float32)
    assert encoder.input_size == (SIZE, SIZE)
    runner = encoder.runner
    (name, detail), = runner.get_input_details().items()
    assert name == "image" and detail["dtype"] == np.uint8 and list(detail["shape"]) == [1, SIZE, SIZE, 3]
    outputs = runner.get_output_details()
    assert outputs["indices"]["dtype"] == np.uint8 and list(outputs["indices"]["shape"]) == [1, SIZE, SIZE]
    assert outputs["palette"]["dtype"] == np.uint8 and list(outputs["palette"]["shape"]) == [1, NP, 3]

    reference = exported["loaded"].signatures["serving_default"]
    images = [sample(n) for n in NAMES]
    agreement = etl.compare(reference, encoder, images)
    assert agreement.identical_indices >= 0.999
    assert agreement.identical_palettes == 1.0
    assert abs(agreement.psnr_delta) < 0.05
    # the GIF: same file from both runtimes
    idx, pal = encoder.encode(images[0])
    ref = run_signature(reference, images[0][None])
    if np.array_equal(idx, ref["indices"][0]):
        assert gif_io.encode_gif(idx, pal) == gif_io.encode_gif(ref["indices"][0], ref["palette"][0])


def test_tflite_fixed_size_cannot_be_resized(tflite_float32):
    works, message = etl.resize_tensor_input_works(tflite_float32, 32, 48)
    assert not works and message
    with pytest.raises(ValueError, match="takes 64x64 images"):
        etl.TFLiteEncoder(tflite_float32).encode(sample("hopper", 32, 48))


def test_representative_images_come_from_the_data_pipeline():
    images = etl.representative_images([DATA], size=32, samples=2, split="all")
    assert len(images) == 2 and all(i.shape == (1, 32, 32, 3) and i.dtype == np.uint8 for i in images)
    assert images[0].std() > 5  # real image content, not a constant
    with pytest.raises(esm.ExportError):
        etl.representative_images([DATA], size=32, samples=0)


def test_parse_size_and_variants():
    assert etl.parse_size("256") == 256 and etl.parse_size("dynamic") is None
    with pytest.raises(esm.ExportError):
        etl.parse_size("-3")
    assert etl.parse_variants("float32, full_int8") == ["float32", "full_int8"]
    with pytest.raises(esm.ExportError):
        etl.parse_variants("float64")


@pytest.mark.slow
def test_tflite_dynamic_size_resizes(bundle, exported, tmp_path):
    path = etl.export_tflite(bundle, str(tmp_path), None, ["float32"])["float32"]
    works, message = etl.resize_tensor_input_works(path, 37, 50)
    assert works, message
    encoder = etl.TFLiteEncoder(path)
    assert encoder.input_size is None
    images = [sample("hopper", 37, 50), sample("retina", 64, 24)]
    agreement = etl.compare(exported["loaded"].signatures["serving_default"], encoder, images)
    assert agreement.identical_indices >= 0.999


@pytest.mark.slow
def test_quantized_variants_run_with_builtin_ops(bundle, exported, tmp_path, tflite_float32):
    calibration = etl.representative_images([DATA], SIZE, 3, "all")
    variants = [v for v in etl.VARIANTS if v != "float32"]
    paths = etl.export_tflite(bundle, str(tmp_path), SIZE, variants, calibration)
    reference = exported["loaded"].signatures["serving_default"]
    images = [sample(n) for n in NAMES]
    results = {}
    for variant, path in paths.items():
        assert etl.non_builtin_ops(path) == [], variant
        assert os.path.getsize(path) < os.path.getsize(tflite_float32), variant
        idx, pal = etl.TFLiteEncoder(path).encode(images[0])
        assert idx.shape == (SIZE, SIZE) and pal.shape == (NP, 3) and idx.max() < NP
        results[variant] = etl.compare(reference, etl.TFLiteEncoder(path), images).identical_indices
    print(results, file=sys.stderr)
    assert results["float16"] >= 0.99
    assert results["dynamic_int8"] >= 0.9
    assert results["int8_float_projection"] >= 0.9
    int8_ops = etl.op_summary(paths["full_int8"])
    assert int8_ops[("CONV_2D", "int8")] > 0 and int8_ops[("CONV_2D", "float32")] == 0


@pytest.mark.slow
def test_export_all_command(tmp_path):
    from export import export_all

    out = tmp_path / "exported"
    code = export_all.main(["--model=gifnets", "--np=8", f"--out={out}", "--init=random", "--mode=net", "--size=32",
                            "--variants=float32,dynamic_int8"])
    assert code == 0
    manifest = json.load(open(out / "manifest.json"))
    assert manifest["model"] == "gifnets"
    assert manifest["float32_check"]["identical_indices"] >= 0.999
    assert os.path.isfile(out / "saved_model" / "gifnets" / "1" / "saved_model.pb")
    assert sorted(os.listdir(out / "tflite")) == ["gifnets_dynamic_int8.tflite", "gifnets_float32.tflite",
                                                  "gifnets_tflite.json"]
    assert manifest["models"]["palette"].startswith("random:")
    with pytest.raises(SystemExit):  # an unknown family is a usage error
        export_all.main(["--model=nope", f"--out={tmp_path / 'x'}"])


def test_a_nested_palette_net_exports_for_a_smaller_np_at_its_input_size(tmp_path):
    """A nested PaletteNet serves Np=8 with its first 8 colours; the net reads the image at its input_size."""
    import keras

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import build_palette_net

    keras.utils.set_random_seed(2)
    config = PaletteNetConfig(num_colors=16, backbone="pointnet", pointnet_widths=(8, 8), nested_sizes=(8, 16),
                              input_size=16)
    net = build_palette_net(config)
    path = str(tmp_path / "nested.keras")
    net.save(path)
    bundle = esm.load_encoder(8, "net", init="trained", palette_model=path)
    rgb = sample("hopper", 32, 32)
    out = {k: v.numpy() for k, v in esm.serving_outputs(bundle, tf.constant(rgb[None])).items()}
    assert out["palette"].shape == (1, 8, 3)
    small = tf.image.resize(unit(rgb[None]), (16, 16), method="area")
    expected = np.clip(np.round((net(small).numpy()[:, :8] + 1.0) * 127.5), 0, 255)
    np.testing.assert_array_equal(out["palette"], expected.astype(np.uint8))
    tflite = etl.export_tflite(bundle, str(tmp_path / "tflite"), 32, ["float32"])["float32"]
    indices, palette = etl.TFLiteEncoder(tflite).encode(rgb)
    np.testing.assert_array_equal(palette, out["palette"][0])
    assert np.mean(indices == out["indices"][0]) >= 0.999


@pytest.mark.parametrize("extra_head", [False, True])
def test_a_slot_head_palette_net_exports_and_tflite_matches_keras(tmp_path, extra_head):
    """The slot head (per-pixel softmax, weighted means, whitening) converts with builtin ops only; a
    network with extra heads (``head_sizes``) and a refinement round (``refine_rounds``) exports the head for
    the export's Np."""
    import keras

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import build_palette_net, head_pixels

    keras.utils.set_random_seed(3)
    np_export = 2 * NP if extra_head else NP
    net = build_palette_net(PaletteNetConfig(num_colors=NP, backbone="pointnet", pointnet_widths=(8, 8),
                                             head="slots", slot_hidden=8, input_size=16,
                                             head_sizes=(2 * NP,) if extra_head else (),
                                             refine_rounds=int(extra_head)))
    path = str(tmp_path / "slots.keras")
    net.save(path)
    bundle = esm.load_encoder(np_export, "net", init="trained", palette_model=path)
    rgb = sample("hopper", 32, 32)
    out = {k: v.numpy() for k, v in esm.serving_outputs(bundle, tf.constant(rgb[None])).items()}
    small = tf.image.resize(unit(rgb[None]), (16, 16), method="area")
    assert out["palette"].shape == (1, np_export, 3)
    pixels = head_pixels(net, unit(rgb[None]))  # the head reads the image's own pixels, as in gifnets encode
    expected = np.clip(np.round((net.palette(small, np_export, pixels=pixels).numpy() + 1.0) * 127.5), 0, 255)
    np.testing.assert_array_equal(out["palette"], expected.astype(np.uint8))
    tflite = etl.export_tflite(bundle, str(tmp_path / "tflite"), 32, ["float32"])["float32"]
    indices, palette = etl.TFLiteEncoder(tflite).encode(rgb)
    assert np.abs(palette.astype(int) - out["palette"][0].astype(int)).max() <= 1
    assert np.mean(indices == out["indices"][0]) >= 0.99


@pytest.mark.parametrize("size", [SIZE, None])
def test_issue29_noise_and_bilinear_dither_net_exports_with_builtin_ops_and_tflite_matches_keras(tmp_path, size):
    """The issue-29 DitherNet (blue-noise input, resize up-sampling) converts with builtin ops only, at a fixed
    and at a dynamic size, and TFLite gives Keras' indices (Eq. 5 with the rounded palette)."""
    from gif_pipeline.layers.common import palette_to_uint8
    from gif_pipeline.layers.folding import fold_batch_norm
    from gif_pipeline.models.gifnets.config import DitherNetConfig
    from gif_pipeline.quant.projection import hard_projection

    config = DitherNetConfig(block_channels=(4, 8, 8, 8, 8), bottleneck_channels=(8, 8), noise_channels=1,
                             noise_period=16, upsample="bilinear")
    bundle = tiny_bundle(seed=3, dither_config=config)
    folded = fold_batch_norm(bundle.dither_net, "float32")
    tflite = etl.export_tflite(bundle, str(tmp_path / "tflite"), size, ["float32"])["float32"]
    assert etl.non_builtin_ops(tflite) == []
    ops = {name for name, _ in etl.op_summary(tflite)}
    assert "RESIZE_BILINEAR" in ops and "TRANSPOSE_CONV" not in ops
    encoder = etl.TFLiteEncoder(tflite)
    for name in NAMES:
        rgb = sample(name) if size else sample(name, 40, 56)
        indices, palette = encoder.encode(rgb)
        x = unit(rgb[None])
        float_palette = bundle.palette_net(x, training=False)
        np.testing.assert_array_equal(palette, palette_to_uint8(float_palette)[0])
        _, quantized = hard_projection(x, unit(palette)[None])  # the rounded palette's projection, as in the CLI
        error = folded([x, quantized], training=False).numpy()  # the Keras network the export holds
        assert np.abs(error).mean() > 0.01
        target = (x.numpy() + error)[0] * 127.5 + 127.5
        expected = ((target[:, :, None, :] - palette[None, None].astype(np.float64)) ** 2).sum(-1).argmin(-1)
        # TFLite's float arithmetic in DitherNet moves a few pixels across a decision boundary (0.17 % here at 64x64;
        # the shipped Np = 16 network on the val photos: 0.57 %, docs/experiments/gifnets.md 2026-12-06).
        assert np.mean(indices == expected) >= 0.995, name
