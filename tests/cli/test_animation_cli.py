"""`gifnets encode` on videos, animated images and --animate (issue 25), as a user runs it: tiny clips made here."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gif_pipeline.io import animation
from gif_pipeline.io import gif as gif_io


def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "gif_pipeline", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def ffmpeg(*args):
    from gif_pipeline.io import video

    subprocess.run([video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """good.mp4 (64x48, 10 fps, 2 s), truncated.mp4 (the first 60% of a 6 s clip), garbage.mp4, audio.mp4 (no video
    stream), anim.gif (3 frames, Pillow) and still.png."""
    d = tmp_path_factory.mktemp("clips")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(d / "good.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=6", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", str(d / "long.mp4"))
    data = (d / "long.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) * 6 // 10])
    (d / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(d / "audio.mp4"))
    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).quantize(16) for _ in range(3)]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(d / "still.png")
    return d


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line]


def test_batch_of_videos_animations_and_bad_inputs(clips, tmp_path):
    out = tmp_path / "out"
    names = ["good.mp4", "garbage.mp4", "truncated.mp4", "audio.mp4", "anim.gif", "still.png"]
    r = run_cli("encode", *[str(clips / n) for n in names], "-o", str(out), "--colors", "32", "--palette",
                "median-cut", "--quiet")
    assert r.returncode == 2, r.stderr
    bad = errors(r.stderr)
    assert len(bad) == 3, r.stderr
    assert any("garbage.mp4" in e and "not a video" in e for e in bad)
    assert any("truncated.mp4" in e and "truncated or corrupt" in e for e in bad)
    assert any("audio.mp4" in e and "no video stream" in e for e in bad)
    assert sorted(os.listdir(out)) == ["anim.gif", "good.gif", "still.gif"]  # no partial or temporary files
    frames, delays = animation.composite_gif(str(out / "good.gif"))
    assert sum(delays) == 200 and len(frames) >= 2 and frames[0].shape == (48, 64, 3)
    assert gif_io.read_gif_info(str(out / "good.gif")).loop == 0
    frames, delays = animation.composite_gif(str(out / "anim.gif"))  # re-encoded as an animation, its timing kept
    assert delays == [10, 20, 30] and len(frames) == 3
    assert gif_io.read_gif_info(str(out / "still.gif")).n_frames == 1


def test_options_of_a_video(clips, tmp_path):
    out = tmp_path / "cut.gif"
    r = run_cli("encode", str(clips / "good.mp4"), "-o", str(out), "--fps", "5", "--width", "32", "--start", "0.5",
                "--duration", "1", "--loop", "2", "--quality", "70", "--palette", "median-cut", "--json")
    assert r.returncode == 0, r.stderr
    info = gif_io.read_gif_info(str(out))
    assert (info.width, info.height, info.loop) == (32, 24, 2)
    frames, delays = animation.composite_gif(str(out))
    assert sum(delays) == 100 and len(frames) <= 5
    assert '"frames": 5' in r.stdout


def test_bad_options_are_one_line_and_exit_2(clips, tmp_path):
    out = tmp_path / "x.gif"
    for args, message in ((["--fps", "0"], "positive"), (["--start", "5"], "past the end"),
                          (["--max-frames", "5"], "refusing to encode 20 frames")):
        r = run_cli("encode", str(clips / "good.mp4"), "-o", str(out), "--palette", "median-cut", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and len(errors(r.stderr)) == 1, r.stderr
        assert not out.exists()


def test_animate_joins_stills_in_order(tmp_path):
    paths = []
    for i in range(4):
        p = tmp_path / f"f{i}.png"
        Image.fromarray(np.full((16, 20, 3), 60 * i, np.uint8)).save(p)
        paths.append(str(p))
    out = tmp_path / "anim.gif"
    r = run_cli("encode", *paths, "--animate", "--fps", "4", "-o", str(out), "--palette", "median-cut")
    assert r.returncode == 0, r.stderr
    frames, delays = animation.composite_gif(str(out))
    assert delays == [25, 25, 25, 25]
    assert [int(f[0, 0, 0]) for f in frames] == [0, 60, 120, 180]
    Image.fromarray(np.zeros((17, 20, 3), np.uint8)).save(tmp_path / "odd.png")
    bad = tmp_path / "bad.gif"
    r = run_cli("encode", *paths, str(tmp_path / "odd.png"), "--animate", "-o", str(bad), "--palette", "median-cut")
    assert r.returncode == 2 and "same size" in r.stderr and len(errors(r.stderr)) == 1, r.stderr
    assert not bad.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
