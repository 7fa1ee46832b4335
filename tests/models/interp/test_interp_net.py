"""InterpNet (GIF2Video §4.2): configs, intermediate flows, shapes, save/load, training step, TFLite vs Keras."""
import numpy as np
import pytest
import tensorflow as tf

from gif_pipeline.models.interp.config import InterpLossConfig, InterpNetConfig
from gif_pipeline.models.interp.graph import InterpGraph
from gif_pipeline.models.interp.interp_net import build_interp_net, intermediate_flows


@pytest.fixture(scope="module")
def tiny():
    import keras

    keras.utils.set_random_seed(27)
    return build_interp_net(InterpNetConfig.tiny(), sample_size=16)


def _batch(b=2, s=16, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda: rng.uniform(-1, 1, (b, s, s, 3)).astype(np.float32)  # noqa: E731
    return {"gif0": f(), "gif1": f(), "frame0": f(), "frame1": f(), "frame_t": f(),
            "t": rng.uniform(0.1, 0.9, b).astype(np.float32)}


def test_config_round_trip_presets_and_bad_values():
    for c in (InterpNetConfig(), InterpNetConfig.cpu(), InterpNetConfig.tiny(flow_input="restored"), InterpLossConfig()):
        assert type(c).from_dict(c.to_dict()) == c
    assert InterpNetConfig.paper().widths() == (32, 64, 128, 256, 512, 512)  # the release's ch * (1, 2, 4, 8, 16, 16)
    assert InterpNetConfig.cpu().widths() == (8, 16, 32, 64, 128, 128)
    for bad in ({"width_multiplier": 0}, {"levels": 0}, {"first_kernels": (4,)}, {"flow_input": "x"},
                {"max_flow": -1.0}, {"refine": "x"}):
        with pytest.raises(ValueError):
            InterpNetConfig(**bad)
    with pytest.raises(ValueError):
        InterpLossConfig(warping=-1.0)


def test_intermediate_flows_at_t_0_and_1_and_linear_motion():
    rng = np.random.default_rng(0)
    f01, f10 = rng.normal(size=(1, 4, 4, 2)).astype(np.float32), rng.normal(size=(1, 4, 4, 2)).astype(np.float32)
    ft0, ft1 = intermediate_flows(f01, f10, 0.0)
    np.testing.assert_allclose(ft0, 0, atol=0)  # at t = 0 the frame is frame 0: no flow to it
    np.testing.assert_allclose(ft1, f01)  # ... and its flow to frame 1 is F01
    ft0, ft1 = intermediate_flows(f01, f10, 1.0)
    np.testing.assert_allclose(ft0, f10)
    np.testing.assert_allclose(ft1, 0, atol=0)
    # Linear motion (F10 = -F01): Ft0 = -t F01 and Ft1 = (1 - t) F01.
    ft0, ft1 = intermediate_flows(f01, -f01, 0.25)
    np.testing.assert_allclose(ft0, -0.25 * f01, rtol=1e-6)
    np.testing.assert_allclose(ft1, 0.75 * f01, rtol=1e-6)


def test_outputs_shapes_ranges_and_odd_sizes(tiny):
    batch = _batch(s=20)
    out = tiny({k: batch[k][:, :, :18] if k != "t" else batch[k] for k in ("gif0", "gif1", "t")})
    assert out["frame"].shape == (2, 20, 18, 3)
    assert out["f01"].shape == out["ft0"].shape == (2, 20, 18, 2) and out["vt0"].shape == (2, 20, 18, 1)
    v = out["vt0"].numpy()
    assert v.min() >= 0 and v.max() <= 1
    assert float(tf.reduce_max(tf.abs(out["f01"]))) <= 1.0  # tanh, in units of max_flow


def test_save_load_round_trip(tiny, tmp_path):
    batch = _batch()
    inputs = {k: batch[k] for k in ("gif0", "gif1", "t")}
    import keras

    path = tmp_path / "interp.keras"
    tiny.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.config == tiny.config and loaded.loss_config == tiny.loss_config
    want, got = tiny(inputs), loaded(inputs)
    for key in want:
        np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=key)


def test_training_steps_lower_the_loss_on_one_batch():
    import keras

    keras.utils.set_random_seed(1)
    model = build_interp_net(InterpNetConfig.tiny(), sample_size=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3, global_clipnorm=1.0), run_eagerly=True)
    batch = _batch()
    before = model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
    assert set(before) >= {"loss", "reconstruction", "gradient", "warping", "smoothness", "psnr", "psnr_repeat"}
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(4), epochs=1, verbose=0)
    after = model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
    assert np.isfinite(after["loss"]) and after["loss"] < before["loss"]


def _frames(h=13, w=10):
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for _ in range(2)] + [np.array([0.5], np.float32)]


def test_graph_pads_crops_and_its_tflite_model_matches_keras(tiny):
    from ai_edge_litert.interpreter import Interpreter

    graph = InterpGraph(tiny)
    a, b, t = _frames()
    want = graph.interpolate(a, b, t)["frame"].numpy()
    assert want.shape == (1, 13, 10, 3) and want.dtype == np.uint8
    interpreter = Interpreter(model_content=graph.tflite())
    runner = interpreter.get_signature_runner()
    got = runner(frame0=a, frame1=b, t=t)["frame"]
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # uint8 rounding of float-equal frames


@pytest.mark.slow
def test_saved_model_and_its_tflite_file_match_keras(tiny, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from gif_pipeline.models.interp.graph import tflite_bytes

    graph = InterpGraph(tiny)
    a, b, t = _frames(32, 48)
    want = graph.interpolate(a, b, t)["frame"].numpy()
    flows = graph.flows(a, b)  # the two-step path the Python API takes computes the same frame
    np.testing.assert_array_equal(graph.synthesize(a, b, flows["f01"], flows["f10"], t)["frame"].numpy(), want)
    graph.save(str(tmp_path / "saved"))
    saved = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_array_equal(saved.signatures["serving_default"](frame0=a, frame1=b, t=t)["frame"].numpy(), want)
    runner = Interpreter(model_content=tflite_bytes(str(tmp_path / "saved"))).get_signature_runner()
    assert np.abs(runner(frame0=a, frame1=b, t=t)["frame"].astype(int) - want.astype(int)).max() <= 1
