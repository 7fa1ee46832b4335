"""`gifnets encode` end to end, as a user runs it (subprocess, real files)."""
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import checks  # noqa: E402
from gif_pipeline import cli
from gif_pipeline.io import gif as gif_io

DATA = checks.FIXTURES
PHOTO = os.path.join(DATA, "hopper_64.png")


def run_cli(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "gif_pipeline", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_encode_one_photo_as_a_user_would(tmp_path):
    out = tmp_path / "photo.gif"
    r = run_cli("encode", PHOTO, "-o", str(out), "--colors", "16", "--palette", "median-cut", "--dither", "fs")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:6] == b"GIF89a"
    with Image.open(out) as im:
        assert im.size == (64, 64) and im.mode == "P"
        assert len(np.unique(np.asarray(im))) <= 16
    assert "PSNR" in r.stdout and "photo.gif" in r.stdout


def test_many_inputs_go_to_a_folder_with_json_stats_and_bad_files_do_not_stop_the_batch(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    inputs = [PHOTO, str(bad), os.path.join(DATA, "hubble_64.png"), str(text)]
    r = run_cli("encode", *inputs, "-o", str(tmp_path / "out"), "--colors", "32", "--json", "--quiet")
    assert r.returncode == 2
    stats = [json.loads(line) for line in r.stdout.splitlines()]
    assert [os.path.basename(s["output"]) for s in stats] == ["hopper_64.gif", "hubble_64.gif"]
    for s in stats:
        assert 2 <= s["colors"] <= 32 and s["bytes"] == os.path.getsize(s["output"])
        assert 20 < s["psnr"] < 60 and s["seconds"] >= 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("gifnets: error:")]
    assert len(errors) == 2 and "broken.png" in errors[0] and "notes.txt" in errors[1]
    assert sorted(os.listdir(tmp_path / "out")) == ["hopper_64.gif", "hubble_64.gif"]


def test_dither_ed_from_the_command_line(tmp_path):
    out = tmp_path / "ed.gif"
    r = run_cli("encode", PHOTO, "-o", str(out), "--colors", "32", "--palette", "median-cut", "--dither", "ed", "--json")
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["dither"] == "ed" and stats["colors"] <= 32 and 20 < stats["psnr"] < 60
    with Image.open(out) as im:
        assert im.size == (64, 64) and len(np.unique(np.asarray(im))) > 8  # dithered: many of the 32 colours used
    r = run_cli("encode", PHOTO, "-o", str(tmp_path / "x.gif"), "--dither", "ed2")
    assert r.returncode == 2 and "invalid choice" in r.stderr and not (tmp_path / "x.gif").exists()


def test_refuses_to_overwrite_unless_forced_and_never_an_input(tmp_path):
    out = tmp_path / "x.gif"
    out.write_bytes(b"precious")
    r = run_cli("encode", PHOTO, "-o", str(out), "--colors", "8", "--palette", "median-cut")
    assert r.returncode == 2 and "exists" in r.stderr and out.read_bytes() == b"precious"
    r = run_cli("encode", PHOTO, "-o", str(out), "--colors", "8", "--palette", "median-cut", "--force")
    assert r.returncode == 0 and out.read_bytes()[:6] == b"GIF89a"
    # An input GIF encoded "into itself" is refused even with --force, and kept intact.
    before = out.read_bytes()
    r = run_cli("encode", str(out), "-o", str(out), "--colors", "8", "--force")
    assert r.returncode == 2 and out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.gif"]  # no temp files left behind


def test_help_and_usage_errors_do_not_wait_for_tensorflow():
    # TensorFlow takes seconds to import; the parser and its error messages must not need it.
    code = ("import sys\nfrom gif_pipeline import cli\n"
            "for argv in (['--help'], ['encode', '--help'], ['encode', 'x.jpg', '--colors', '1']):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
            "print('tensorflow' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"
    assert "--colors must be in 2..256" in r.stderr and "usage: gifnets encode" in r.stdout


def test_xla_is_off_for_a_few_inputs_unless_the_user_chose(tmp_path, monkeypatch, capsys):
    from gif_pipeline import encode

    seen = []
    real = encode.encode_image
    monkeypatch.setattr(encode, "encode_image", lambda *a, **k: seen.append(os.environ.get("GIFNETS_XLA")) or real(*a, **k))
    monkeypatch.delenv("GIFNETS_XLA", raising=False)
    args = ["encode", PHOTO, "-o", str(tmp_path / "a.gif"), "--colors", "8", "--palette", "median-cut", "--dither", "fs",
            "--force", "--quiet"]
    assert cli.main(args) == 0 and seen == ["off"] and "GIFNETS_XLA" not in os.environ  # restored afterwards
    monkeypatch.setattr(cli.encode, "XLA_MIN_INPUTS", 1)
    assert cli.main(args) == 0 and seen[-1] is None  # enough inputs: encode's default (XLA where faster)
    monkeypatch.setattr(cli.encode, "XLA_MIN_INPUTS", 100)
    monkeypatch.setenv("GIFNETS_XLA", "on")
    assert cli.main(args) == 0 and seen[-1] == "on"  # the user's choice stands
    monkeypatch.setenv("GIFNETS_XLA", "maybe")
    assert cli.main(args) == 2 and len(seen) == 3
    assert "GIFNETS_XLA must be auto, on or off" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["1", "257", "sixteen"])
def test_wrong_colors_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["encode", PHOTO, "-o", "unused.gif", "--colors", bad])
    assert e.value.code == 2
    assert "--colors" in capsys.readouterr().err


def test_rgba_input_keeps_transparency_or_composites_on_background(tmp_path):
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[..., 0] = np.arange(24)[None] * 10
    rgba[..., 3] = 255
    rgba[:8, :8, 3] = 0
    src = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(src)
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "t.gif"), "--colors", "8", "-q"]) == 0
    frame = gif_io.decode_gif(str(tmp_path / "t.gif"))[0]
    assert frame.transparent_index is not None
    assert (frame.indices[:8, :8] == frame.transparent_index).all()
    assert (frame.indices[8:, 8:] != frame.transparent_index).all()
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "b.gif"), "--colors", "8", "-q",
                     "--background", "#00ff00"]) == 0
    frame = gif_io.decode_gif(str(tmp_path / "b.gif"))[0]
    assert frame.transparent_index is None
    np.testing.assert_array_equal(frame.palette[frame.indices[0, 0]], [0, 255, 0])


def test_huge_image_is_refused_with_a_hint(tmp_path, capsys):
    src = tmp_path / "big.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(src)
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "big.gif"), "--max-pixels", "1000"]) == 2
    assert "--max-pixels" in capsys.readouterr().err
    assert not (tmp_path / "big.gif").exists()


def test_two_colours_with_transparency_gives_one_opaque_colour_and_the_transparent_index():
    from gif_pipeline import encode

    rgb = np.full((8, 8, 3), 100, np.uint8)
    rgb[4:] = 200
    mask = np.zeros((8, 8), bool)
    mask[:2] = True
    result = encode.encode_image(rgb, colors=2, palette="kmeans", dither="fs", alpha_mask=mask)
    frame = gif_io.decode_gif(result.gif_bytes)[0]
    assert frame.transparent_index == 1
    assert (frame.indices[:2] == 1).all() and (frame.indices[2:] == 0).all()
    np.testing.assert_array_equal(frame.palette[0], [167, 167, 167])  # mean of the opaque pixels


def _tensorflow_log(action) -> list[str]:
    """The messages TensorFlow's logger passes on while ``action()`` runs."""
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger, handler = logging.getLogger("tensorflow"), Keep()
    logger.addHandler(handler)
    try:
        action()
    finally:
        logger.removeHandler(handler)
    return seen


def _retrace(python_function, times: int = 7):
    """Trace ``python_function`` ``times`` times (a new shape each call): TensorFlow warns from the fifth trace,
    at most twice per code object, so each check passes a function of its own."""
    import tensorflow as tf

    traced = tf.function(python_function)
    for n in range(1, times + 1):
        traced(tf.zeros([n]))


def test_cli_drops_tensorflow_retracing_warnings_and_keeps_others(monkeypatch):
    import tensorflow as tf

    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "filters", [f for f in logger.filters if not isinstance(f, cli._NoRetracingWarning)])
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    # Without the filter TensorFlow does log the warning the filter looks for.
    unfiltered = _tensorflow_log(lambda: _retrace(lambda x: x * x))
    assert any("triggered tf.function retracing" in m for m in unfiltered)

    cli._import_tensorflow_quietly()
    cli._import_tensorflow_quietly()  # a second call adds no second filter
    assert sum(isinstance(f, cli._NoRetracingWarning) for f in logger.filters) == 1
    filtered = _tensorflow_log(lambda: (_retrace(lambda x: x + x), tf.get_logger().warning("another warning")))
    assert filtered == ["another warning"]


def test_cli_keeps_retracing_warnings_when_asked_for_all_logs(monkeypatch):
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "filters", [f for f in logger.filters if not isinstance(f, cli._NoRetracingWarning)])
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    cli._import_tensorflow_quietly()
    assert any("triggered tf.function retracing" in m for m in _tensorflow_log(lambda: _retrace(lambda x: x - 1)))
