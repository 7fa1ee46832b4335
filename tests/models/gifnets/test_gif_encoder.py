"""GIFEncoder (Fig. 2): the stage-2 training options straight-through projection and palette refinement."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gif_pipeline.models.gifnets.config import DitherNetConfig, PaletteNetConfig
from gif_pipeline.models.gifnets.dither_net import build_dither_net
from gif_pipeline.models.gifnets.gif_encoder import GIFEncoder
from gif_pipeline.models.gifnets.palette_net import PaletteNet
from gif_pipeline.quant import palettes
from gif_pipeline.quant.projection import hard_projection


@pytest.fixture(scope="module")
def nets():
    keras.utils.set_random_seed(5)
    return PaletteNet(PaletteNetConfig.tiny(num_colors=6)), build_dither_net(DitherNetConfig.tiny())


def _image(seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (2, 16, 16, 3)), tf.float32)


def test_straight_through_projects_hard_and_still_trains_dithernet(nets):
    palette_net, dither_net = nets
    encoder = GIFEncoder(palette_net, dither_net, projection="straight_through")
    image = _image()
    with tf.GradientTape() as tape:
        out = encoder(image, training=True)
        loss = tf.reduce_mean(tf.square(out["dithered"] - image))
    # The forward pass is the real encoder: every output pixel is a palette colour.
    _, expected = hard_projection(image + out["error"], out["palette"])
    np.testing.assert_allclose(out["dithered"].numpy(), expected.numpy(), atol=1e-6)
    grads = tape.gradient(loss, dither_net.trainable_variables)
    assert all(g is not None for g in grads) and sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


def test_refine_palette_uses_lloyd_refined_palettes_that_quantize_better(nets):
    palette_net, dither_net = nets
    image = _image(1)
    plain = GIFEncoder(palette_net, dither_net)(image, training=False, soft=False)
    refined = GIFEncoder(palette_net, dither_net, refine_palette=3)(image, training=False, soft=False)
    expected = palettes.lloyd_refine(image, palette_net(image, training=False), 3)
    np.testing.assert_allclose(refined["palette"].numpy(), expected.numpy(), atol=1e-5)
    err = lambda out: float(tf.reduce_mean(tf.square(out["quantized"] - image)))  # noqa: E731
    assert err(refined) < err(plain)


@pytest.mark.parametrize("bad", [dict(projection="straight_through"), dict(refine_palette=2)])
def test_joint_stage_rejects_stage_two_options(nets, bad):
    with pytest.raises(ValueError, match="stage-2"):
        GIFEncoder(*nets, stage="joint", **bad)


@pytest.mark.parametrize("bad", [dict(projection="hard"), dict(refine_palette=-1)])
def test_bad_options_raise(nets, bad):
    with pytest.raises(ValueError):
        GIFEncoder(*nets, **bad)


def test_palette_colors_uses_the_first_colours_of_the_palette_net(nets):
    palette_net, dither_net = nets
    image = _image(2)
    full = palette_net(image, training=False)
    out = GIFEncoder(palette_net, dither_net, palette_colors=4)(image, soft=False)
    np.testing.assert_allclose(out["palette"].numpy(), full[:, :4].numpy(), atol=1e-6)
    assert int(tf.reduce_max(out["indices"])) < 4  # only those colours are used
    with pytest.raises(ValueError, match="palette_colors"):
        GIFEncoder(palette_net, dither_net, palette_colors=1)
    with pytest.raises(ValueError, match="joint stage"):
        GIFEncoder(palette_net, dither_net, stage="joint", palette_colors=4)


def test_distillation_adds_l1_to_the_teacher_and_trains_only_the_student(nets):
    palette_net, student = nets
    keras.utils.set_random_seed(9)
    teacher = build_dither_net(DitherNetConfig.tiny(block_channels=(6, 8, 8, 12, 12)))
    image = _image(2)
    encoder = GIFEncoder(palette_net, student, teacher=teacher, distill_weight=3.0)
    plain = GIFEncoder(palette_net, student)
    total, terms = encoder._loss(image, training=False)
    plain_total, _ = plain._loss(image, training=False)
    out = encoder(image, training=False, soft=True)
    expected = float(tf.reduce_mean(tf.abs(out["error"] - teacher([image, out["quantized"]], training=False))))
    assert expected > 0
    np.testing.assert_allclose(float(terms["distill"]), expected, rtol=1e-5)
    np.testing.assert_allclose(float(total), float(plain_total) + 3.0 * expected, rtol=1e-5)
    # Its own teacher: the term is 0.
    copy = keras.models.clone_model(student)
    copy.set_weights(student.get_weights())
    _, same = GIFEncoder(palette_net, student, teacher=copy, distill_weight=1.0)._loss(image, training=False)
    assert float(same["distill"]) == 0.0
    # Only the student trains: the teacher's variables are frozen, and the loss's gradient reaches the student only.
    trained = {id(v) for v in encoder.trainable_variables}
    assert not trained & {id(v) for v in teacher.weights}
    assert {id(v) for v in student.trainable_variables} <= trained
    with tf.GradientTape(persistent=True) as tape:
        total, terms = encoder._loss(image, training=True)
    assert all(g is None for g in tape.gradient(terms["distill"], teacher.weights))
    grads = tape.gradient(terms["distill"], student.trainable_variables)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads if g is not None) > 0
    for bad in (dict(teacher=teacher), dict(distill_weight=1.0), dict(teacher=teacher, distill_weight=-1.0),
                dict(teacher=teacher, distill_weight=1.0, stage="joint")):
        with pytest.raises(ValueError, match="distillation"):
            GIFEncoder(palette_net, student, **bad)
