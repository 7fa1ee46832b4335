"""Motion data for interpolation: deterministic by seed, the documented ranges, the held-out clip refused."""
import os

import numpy as np
import pytest

import checks
from gif_pipeline.data import motion

CONFIG = motion.MotionConfig(crop_size=32, batch_size=2, photo_short_side=64, seed=3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 12-frame 48x40 mp4 of a square moving right over a gradient, and a cut after frame 8."""
    import imageio_ffmpeg

    path = str(tmp_path_factory.mktemp("clips") / "moving.mp4")
    writer = imageio_ffmpeg.write_frames(path, (48, 40), fps=25, quality=9, macro_block_size=8,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for i in range(12):
        f = np.tile(np.linspace(0, 200, 48, dtype=np.uint8)[None, :, None], (40, 1, 3))
        if i >= 9:
            f = 255 - f
        f[10:20, 2 + 2 * i:12 + 2 * i] = (250, 30, 30)
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


def test_examples_are_a_function_of_seed_and_index(clip):
    photos = motion.list_images([checks.FIXTURES])
    a = motion.make_example(7, photos, [clip], CONFIG)
    b = motion.make_example(7, photos, [clip], CONFIG)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    c = motion.make_example(7, photos, [clip], CONFIG.replace(seed=4))
    assert any(not np.array_equal(a[k], c[k]) for k in ("frame_t", "gif0"))


def test_ranges_kinds_and_quantization(clip):
    photos = motion.list_images([checks.FIXTURES])
    examples = [motion.make_example(i, photos, [clip], CONFIG) for i in range(24)]
    assert {int(e["real"]) for e in examples} == {0, 1}
    assert {int(e["factor"]) for e in examples} <= {2, 4, 8} and len({int(e["factor"]) for e in examples}) > 1
    for e in examples:
        k = int(e["factor"])
        assert 0 < float(e["t"]) < 1 and abs(float(e["t"]) * k - round(float(e["t"]) * k)) < 1e-6
        assert 32 <= int(e["colors"]) <= 256
        assert e["gif0"].shape == e["frame_t"].shape == (32, 32, 3)
        assert e["gif0"].min() >= -1 and e["gif0"].max() <= 1
        colours = np.unique(e["gif0"].reshape(-1, 3), axis=0)
        assert len(colours) <= int(e["colors"])


def test_scene_cuts_are_found_and_windows_avoid_them(clip):
    frames = motion.read_clip(clip)
    cuts = motion.scene_cuts(frames, CONFIG.cut_threshold)
    assert cuts.tolist().index(True) == 8 and cuts.sum() == 1


def test_dataset_batches_repeat_exactly_and_the_held_out_clip_is_refused(clip):
    a = next(iter(motion.build_dataset([checks.FIXTURES], [clip], CONFIG)))
    b = next(iter(motion.build_dataset([checks.FIXTURES], [clip], CONFIG)))
    assert a["frame_t"].shape == (2, 32, 32, 3)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy(), err_msg=key)
    with pytest.raises(ValueError, match="held-out"):
        motion.build_dataset([checks.FIXTURES], [os.path.join("x", motion.HELD_OUT_CLIP)], CONFIG)
