"""`gifnets interpolate`: frames between frames, timing kept; bad input is one line, exit 2, nothing half-written."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gif_pipeline import cli
from gif_pipeline import interpolate as interp


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    from gif_pipeline.models.interp.config import InterpNetConfig
    from gif_pipeline.models.interp.interp_net import build_interp_net

    keras.utils.set_random_seed(27)
    path = tmp_path_factory.mktemp("interp") / "interp.keras"
    build_interp_net(InterpNetConfig.tiny(), sample_size=16).save(path)
    return str(path)


def _gif(path, frames=4, size=(40, 24), duration=100):
    images = []
    for i in range(frames):
        a = np.zeros(size[::-1] + (3,), np.uint8)
        a[:, :, 2] = 80
        a[6:16, 4 + 5 * i:14 + 5 * i] = (240, 200, 20)
        images.append(Image.fromarray(a))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return str(path)


def test_interpolate_gif_webp_and_folder_keep_the_timing(tmp_path, tiny_model, capsys):
    src = _gif(tmp_path / "in.gif")
    for out in ("out.gif", "out.webp", "frames", "out.mp4"):
        code = cli.main(["interpolate", src, "-o", str(tmp_path / out), "--factor", "2", "--model", tiny_model])
        assert code == 0, capsys.readouterr().err
    with Image.open(tmp_path / "out.gif") as im:
        assert im.size == (40, 24)
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    # 4 frames of 100 ms -> 8 of 50 ms: the same 400 ms (Pillow's writer merges the held last frame's two
    # identical 50-ms frames into one of 100 ms, which plays the same).
    assert durations in ([50] * 8, [50] * 6 + [100])
    with Image.open(tmp_path / "out.webp") as im:
        assert im.n_frames in (7, 8)  # the same merge
    assert sorted(os.listdir(tmp_path / "frames")) == [f"{i:04d}.png" for i in range(8)]
    import imageio_ffmpeg

    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "out.mp4")) == (8, 0.4)
    assert "4 -> 8 frames" in capsys.readouterr().out


def test_the_api_keeps_kept_frames_and_holds_the_last(tiny_model):
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 20, 3), dtype=np.uint8)
    out = interp.interpolate_frames(frames, 4, model_path=tiny_model)
    assert out.shape == (12, 16, 20, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[[0, 4, 8]], frames)  # kept frames pass through
    np.testing.assert_array_equal(out[8:], np.repeat(frames[2:], 4, axis=0))  # the last is held


def test_bad_frames_and_factors_are_clear_errors(tiny_model):
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(interp.InterpolationError, match="different sizes"):
        interp.interpolate_frames([frames[0], np.zeros((8, 9, 3), np.uint8)], 2, model_path=tiny_model)
    with pytest.raises(interp.InterpolationError, match="still image"):
        interp.interpolate_frames(frames[:1], 2, model_path=tiny_model)
    for bad in (0, 3, 16, True):
        with pytest.raises(interp.InterpolationError, match="2, 4 or 8"):
            interp.interpolate_frames(frames, bad, model_path=tiny_model)
    assert interp.factor_for_fps(30, 10) == 4 and interp.factor_for_fps(20, 10) == 2
    with pytest.raises(interp.InterpolationError, match="at most 8x"):
        interp.factor_for_fps(100, 10)
    with pytest.raises(interp.InterpolationError, match="already plays"):
        interp.factor_for_fps(8, 10)


def test_cli_bad_inputs_exit_2_with_one_line_and_write_nothing_half(tmp_path, tiny_model, capsys):
    src = _gif(tmp_path / "in.gif")
    with pytest.raises(SystemExit) as e:  # factor 3: an argparse error
        cli.main(["interpolate", src, "-o", str(tmp_path / "x.gif"), "--factor", "3"])
    assert e.value.code == 2 and "--factor must be 2, 4 or 8, got '3'" in capsys.readouterr().err
    # A still GIF: said, and written unchanged.
    still = tmp_path / "still.gif"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(still)
    assert cli.main(["interpolate", str(still), "-o", str(tmp_path / "still_out.gif"), "--model", tiny_model]) == 2
    err = capsys.readouterr().err
    assert "nothing to interpolate" in err and err.count("\n") == 1
    assert (tmp_path / "still_out.gif").exists()
    # 12.5 ms GIF frames: refused before any work.
    assert cli.main(["interpolate", src, "-o", str(tmp_path / "fast.gif"), "--factor", "8", "--model", tiny_model]) == 2
    assert "under 20 ms" in capsys.readouterr().err and not (tmp_path / "fast.gif").exists()
    # --fps below the input's rate; a corrupt file among good ones: the batch goes on.
    assert cli.main(["interpolate", src, "-o", str(tmp_path / "slow.gif"), "--fps", "5", "--model", tiny_model]) == 2
    assert "already plays at 10 fps" in capsys.readouterr().err
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"GIF89a" + b"\x00" * 20)
    out = tmp_path / "batch"
    assert cli.main(["interpolate", str(bad), src, "-o", str(out), "--model", tiny_model, "-q"]) == 2
    assert sorted(os.listdir(out)) == ["in.gif"]
    assert "bad.gif" in capsys.readouterr().err
    # An existing output is not replaced without --force; no temporary files are left.
    before = (out / "in.gif").read_bytes()
    assert cli.main(["interpolate", src, "-o", str(out / "in.gif"), "--model", tiny_model]) == 2
    assert (out / "in.gif").read_bytes() == before and not [n for n in os.listdir(out) if n.startswith(".")]


@pytest.mark.slow
def test_mp4_output_as_a_user_runs_it(tmp_path, tiny_model):
    import imageio_ffmpeg

    src = _gif(tmp_path / "in.gif", frames=3)
    r = subprocess.run([sys.executable, "-m", "gif_pipeline", "interpolate", src, "-o", str(tmp_path / "o.mp4"),
                        "--fps", "40", "--model", tiny_model], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr
    assert "factor 4" in r.stderr
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "o.mp4"))
    assert frames == 12 and abs(seconds - 0.3) < 0.05
