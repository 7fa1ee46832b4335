"""The peer wrappers: each writes a real GIF with at most n colours that decodes to its reported RGB."""
import io
import os

import numpy as np
import pytest
from PIL import Image

import checks  # noqa: E402
from gif_pipeline.eval import peers

DATA = checks.FIXTURES


def _image(name="hopper_64.png", size=48):
    with Image.open(os.path.join(DATA, name)) as im:
        return np.asarray(im.convert("RGB"))[:size, :size].copy()


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def _run_or_skip(name, rgb, n):
    reason = peers.PEERS[name].unavailable()
    if reason:
        pytest.skip(reason)
    return peers.run_peer(name, rgb, n)


@pytest.mark.parametrize("name", list(peers.PEERS))
def test_peer_writes_valid_gif_with_at_most_n_colours(name):
    rgb = _image()
    r = _run_or_skip(name, rgb, 16)
    assert r.name == name
    assert r.gif_bytes[:6] in (b"GIF89a", b"GIF87a")
    # Decoded independently of gif_io: Pillow's own GIF reader.
    with Image.open(io.BytesIO(r.gif_bytes)) as im:
        assert im.format == "GIF" and im.size == (48, 48)
        pillow_rgb = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(pillow_rgb, r.rgb)
    assert r.rgb.dtype == np.uint8 and r.rgb.shape == rgb.shape
    assert 2 <= peers.count_colors(r.rgb) <= 16
    assert r.seconds > 0
    if r.indices is not None:
        assert r.indices.dtype == np.uint8 and r.indices.shape == (48, 48)
        assert 1 <= len(r.palette) <= 16 and int(r.indices.max()) < len(r.palette)
        np.testing.assert_array_equal(r.palette[r.indices], r.rgb)
    # A real photo quantised to 16 colours by any sane tool is far from noise.
    assert _psnr(rgb, r.rgb) > 22


@pytest.mark.parametrize("name", ["pillow-mediancut:none", "libimagequant:d0", "ffmpeg:none", "pngquant:nofs",
                                  "kmeans-ref:none"])
def test_more_colours_is_closer(name):
    rgb = _image("retina_64.png")
    few = _run_or_skip(name, rgb, 4)
    many = _run_or_skip(name, rgb, 64)
    assert peers.count_colors(few.rgb) <= 4
    assert _psnr(rgb, many.rgb) > _psnr(rgb, few.rgb) + 3


@pytest.mark.parametrize("name", ["pillow-mediancut:none", "pillow-mediancut:fs", "kmeans-ref:none",
                                  "libimagequant:d0", "libimagequant:d1", "ffmpeg:none", "ffmpeg:sierra2_4a",
                                  "pngquant:nofs", "pngquant:fs"])
def test_image_with_few_colours_is_reproduced_exactly(name):
    colours = np.array([[250, 10, 10], [10, 200, 30], [20, 20, 240], [240, 240, 240]], np.uint8)
    rng = np.random.default_rng(0)
    rgb = colours[rng.integers(0, 4, size=(24, 40))]
    r = _run_or_skip(name, rgb, 16)
    np.testing.assert_array_equal(r.rgb, rgb)


def test_pillow_fs_uses_the_same_palette_as_without_dither():
    rgb = _image()
    plain = peers.run_peer("pillow-mediancut:none", rgb, 8)
    fs = peers.run_peer("pillow-mediancut:fs", rgb, 8)
    assert {tuple(c) for c in fs.palette} <= {tuple(c) for c in plain.palette}
    assert not np.array_equal(plain.indices, fs.indices)  # dithering changed the mapping


def test_trim_compacts_palette_gaps():
    palette = np.arange(30, dtype=np.uint8).reshape(10, 3)
    indices = np.array([[0, 9], [9, 4]], np.uint8)
    idx, pal = peers._trim(indices, palette, 3, "test")
    assert len(pal) == 3
    np.testing.assert_array_equal(pal[idx], palette[indices])
    with pytest.raises(peers.PeerError, match="more than"):
        peers._trim(indices, palette, 2, "test")
    with pytest.raises(peers.PeerError, match="palette has only"):
        peers._trim(np.array([[12]], np.uint8), palette, 16, "test")


def test_bad_arguments_raise():
    rgb = _image()
    with pytest.raises(ValueError, match="unknown peer"):
        peers.run_peer("nope", rgb, 16)
    for n in (1, 257):
        with pytest.raises(ValueError, match="2..256"):
            peers.run_peer("pillow-mediancut:none", rgb, n)
    with pytest.raises(ValueError, match="uint8"):
        peers.run_peer("pillow-mediancut:none", rgb.astype(np.float32), 16)
    with pytest.raises(ValueError, match="uint8"):
        peers.run_peer("pillow-mediancut:none", rgb[..., 0], 16)
    with pytest.raises(ValueError, match="unknown peer"):
        peers.available_peers(["pillow-mediancut:none", "gimp"])


def test_missing_tool_is_skipped_with_reason(monkeypatch):
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    ok, skipped = peers.available_peers(["pngquant:nofs", "pillow-mediancut:none"])
    assert [p.name for p in ok] == ["pillow-mediancut:none"]
    assert "PATH" in skipped["pngquant:nofs"]
    with pytest.raises(peers.PeerUnavailableError, match="pngquant"):
        peers.run_peer("pngquant:nofs", _image(), 16)
