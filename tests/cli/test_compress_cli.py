"""`gifnets compress` / `gifnets decompress` (issue #28) in-process, with a tiny untrained compressor: round trip,
JSON stats, selective compression, and every bad input one error line + exit 2 while the batch goes on."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow")
pytest.importorskip("constriction")

from gif_pipeline import cli  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import keras

    from gif_pipeline.models.compress.config import CompressionConfig
    from gif_pipeline.models.compress.model import Compressor

    keras.utils.set_random_seed(5)
    path = str(tmp_path_factory.mktemp("model") / "tiny_c4.keras")
    Compressor(CompressionConfig.tiny(channels=4)).save(path)
    return path


def _lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_round_trip_batch_json_and_bad_inputs(tmp_path, model, capsys):
    photo = os.path.join(FIXTURES, "hopper_64.png")
    odd = str(tmp_path / "odd.png")
    Image.open(photo).crop((0, 0, 50, 37)).save(odd)
    small = str(tmp_path / "small.png")
    Image.open(photo).crop((0, 0, 15, 40)).save(small)
    out = tmp_path / "gcz"
    code = cli.main(["compress", photo, odd, small, str(tmp_path / "missing.png"), "-o", str(out), "--model", model,
                     "--json", "--psnr", "-q"])
    captured = capsys.readouterr()
    assert code == 2
    stats = _lines(captured.out)
    assert [os.path.basename(s["output"]) for s in stats] == ["hopper_64.gcz", "odd.gcz"]
    assert all(s["bytes"] == os.path.getsize(s["output"]) and s["psnr"] > 0 for s in stats)
    assert stats[1]["width"] == 50 and stats[1]["height"] == 37
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 2 and "at least 16 px" in errors[0] and "missing.png" in errors[1]
    assert sorted(os.listdir(out)) == ["hopper_64.gcz", "odd.gcz"]

    # decompress, with the original for PSNR; the size comes back (padding cropped)
    png = str(tmp_path / "odd.png.out.png")
    assert cli.main(["decompress", str(out / "odd.gcz"), "-o", png, "--model", model, "--json", "--original", odd]) == 0
    s = _lines(capsys.readouterr().out)[0]
    assert Image.open(png).size == (50, 37) and s["psnr"] == pytest.approx(stats[1]["psnr"], abs=1e-3)
    # refuses to overwrite without --force
    assert cli.main(["decompress", str(out / "odd.gcz"), "-o", png, "--model", model]) == 2
    assert "exists" in capsys.readouterr().err

    # bad files: truncated, wrong magic, wrong version, another model, not a file; the good one still decodes
    from gif_pipeline.models.compress import codec

    data = (out / "hopper_64.gcz").read_bytes()
    h = codec.read(data)
    other = codec.write(b"\0\0\0\0", h.channels, h.gan, h.width, h.height, h.keep, h.payload)  # valid, another model
    bad = {"trunc.gcz": data[:-3], "magic.gcz": b"XX" + data[2:], "version.gcz": data[:2] + b"\x07" + data[3:],
           "model.gcz": other}
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    dec = tmp_path / "dec"
    args = [str(tmp_path / n) for n in bad] + [str(out / "hopper_64.gcz")]
    assert cli.main(["decompress", *args, "-o", str(dec), "--model", model, "-q"]) == 2
    err = capsys.readouterr().err
    for words in ("checksum", "wrong magic", "version 7", "written by model"):
        assert words in err
    assert sorted(os.listdir(dec)) == ["hopper_64.png"]


def test_keep_box_and_mask(tmp_path, model, capsys):
    photo = os.path.join(FIXTURES, "hopper_64.png")
    full = tmp_path / "full.gcz"
    box = tmp_path / "box.gcz"
    assert cli.main(["compress", photo, "-o", str(full), "--model", model, "--json"]) == 0
    assert cli.main(["compress", photo, "-o", str(box), "--model", model, "--json", "--keep", "0,0,32,16"]) == 0
    a, b = _lines(capsys.readouterr().out)
    assert b["kept"] == pytest.approx(2 / 16) and b["bound_bpp"] == pytest.approx(a["bound_bpp"] * 2 / 16, abs=1e-5)
    assert b["bytes"] < a["bytes"]
    mask = np.zeros((64, 64), np.uint8)
    mask[40:, 40:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert cli.main(["compress", photo, "-o", str(tmp_path / "m.gcz"), "--model", model, "--json",
                     "--mask", str(tmp_path / "mask.png")]) == 0
    assert _lines(capsys.readouterr().out)[0]["kept"] == pytest.approx(4 / 16)
    # a box outside the image, a mask of another size: one line each, exit 2, nothing written
    assert cli.main(["compress", photo, "-o", str(tmp_path / "x.gcz"), "--model", model, "--keep", "60,0,10,10"]) == 2
    Image.fromarray(mask[:32]).save(tmp_path / "small_mask.png")
    assert cli.main(["compress", photo, "-o", str(tmp_path / "y.gcz"), "--model", model,
                     "--mask", str(tmp_path / "small_mask.png")]) == 2
    err = capsys.readouterr().err
    assert "not inside" in err and "the mask is 64x32" in err
    assert not (tmp_path / "x.gcz").exists() and not (tmp_path / "y.gcz").exists()
    with pytest.raises(SystemExit):
        cli.main(["compress", photo, "-o", str(tmp_path / "z.gcz"), "--keep", "1,2,3"])


def test_bpp_picks_channels():
    from gif_pipeline.cli.compress import channels_for_bpp

    assert [channels_for_bpp(b) for b in (0.01, 0.018, 0.03, 0.036, 0.05, 0.0726, 0.2)] == [2, 2, 4, 4, 4, 8, 8]
