"""Animated GIFs (issue 25): the streaming writer, the frame reader, timing, and encode_frames on tiny synthetic clips.

Decoders must agree on the composited frames: this module's compositor, Pillow, ffmpeg and gifsicle."""
from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from gif_pipeline import animate
from gif_pipeline.errors import GifnetsError
from gif_pipeline.io import animation
from gif_pipeline.io import gif as gif_io


def moving_clip(n: int = 6, h: int = 40, w: int = 48, seed: int = 0) -> list[np.ndarray]:
    """A still textured background with a square moving over it, and a slowly brightening corner (drift)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], axis=2).astype(np.int16)
    base += rng.integers(-6, 7, base.shape).astype(np.int16)
    frames = []
    for t in range(n):
        f = base.copy()
        f[4 + t:14 + t, 6 + 2 * t:16 + 2 * t] = (250, 40, 30)
        f[-8:, -8:] += 2 * t
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def encode(frames, **kw) -> animate.AnimationResult:
    kw.setdefault("palette", "median-cut")
    kw.setdefault("dither", "none")
    kw.setdefault("fps", 10)
    return animate.encode_frames(iter(frames), None, **kw)


def pillow_frames(data: bytes) -> list[np.ndarray]:
    return [rgb for rgb, _ in animation.iter_frames(io.BytesIO(data))]


def ffmpeg_frames(data: bytes, w: int, h: int) -> list[np.ndarray]:
    from gif_pipeline.io import video

    proc = subprocess.run([video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "gif", "-i", "pipe:0",
                           "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                          input=data, capture_output=True, check=True)
    raw = np.frombuffer(proc.stdout, np.uint8)
    return list(raw.reshape(-1, h, w, 3))


def gifsicle_frames(data: bytes) -> list[np.ndarray]:
    """gifsicle's view: ``--unoptimize`` writes every frame as the full canvas gifsicle composites (it needs one
    colour table first: ``--colors 255``, lossless while the clip has fewer colours); the frames are read raw."""
    merged = subprocess.run(["gifsicle", "--no-warnings", "--colors", "255"], input=data, capture_output=True,
                            check=True).stdout
    out = subprocess.run(["gifsicle", "--unoptimize"], input=merged, capture_output=True, check=True).stdout
    frames = []
    for f in gif_io.decode_gif(out):
        assert f.indices.shape == (40, 48) and (f.left, f.top) == (0, 0)
        assert f.transparent_index is None or not (f.indices == f.transparent_index).any()
        frames.append(f.palette[f.indices])
    return frames


@pytest.mark.parametrize("mode", ["global", "frame", "mixed", "tiered"])
def test_decoders_agree_on_composited_frames(mode):
    frames = moving_clip()
    result = encode(frames, palette_mode=mode, quality=80, colors=32)
    ours, delays = animation.composite_gif(result.gif_bytes)
    assert len(ours) == result.frames_written >= 2
    # frames really are rectangles with transparency after the first (not full canvases)
    raw = gif_io.decode_gif(result.gif_bytes)
    assert raw[0].indices.shape == (40, 48)
    assert any(f.indices.shape != (40, 48) for f in raw[1:])
    assert all(f.transparent_index is not None and f.disposal == 1 for f in raw[1:])
    for name, theirs in (("pillow", pillow_frames(result.gif_bytes)),
                         ("ffmpeg", ffmpeg_frames(result.gif_bytes, 48, 40))):
        assert len(theirs) == len(ours), name
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} frame {i}")
    if shutil.which("gifsicle"):
        theirs = gifsicle_frames(result.gif_bytes)
        assert len(theirs) == len(ours)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_array_equal(a, b, err_msg=f"gifsicle frame {i}")
    # the encoder's own PSNR is that of the decoded frames
    shown = ours  # every input frame was written here (each one changes)
    psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, shown)])
    assert abs(psnr - result.psnr) < 1e-3


def test_still_areas_stay_still_and_drift_is_bounded():
    frames = moving_clip(n=8)
    result = encode(frames, quality=60, colors=32)
    shown, _ = animation.composite_gif(result.gif_bytes)
    threshold = animate.quality_settings(60)["threshold"]
    # the background away from the square and the corner never changes on screen
    for a, b in zip(shown, shown[1:]):
        np.testing.assert_array_equal(a[26:32, 30:40], b[26:32, 30:40])
    # the corner drifts by 2 levels a frame: what it shows at the end was written from a source within the threshold
    for y in range(32, 40):
        for x in range(40, 48):
            assert any(np.array_equal(shown[k][y, x], shown[-1][y, x])
                       and np.abs(frames[k][y, x].astype(int) - frames[-1][y, x]).max() <= threshold
                       for k in range(len(frames))), (y, x)
    assert not np.array_equal(shown[0][32:, 40:], shown[-1][32:, 40:])  # and it did get rewritten


def test_quality_trades_bytes_for_fidelity_monotonically():
    frames = moving_clip(n=8, seed=3)
    results = [encode(frames, quality=q, colors=64, palette_mode="global") for q in (10, 50, 90, 100)]
    sizes = [r.bytes for r in results]
    psnrs = [r.psnr for r in results]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert psnrs == sorted(psnrs) and psnrs[0] < psnrs[-1]


@pytest.mark.parametrize("loop", [0, 3, None])
def test_loop_count(loop):
    result = encode(moving_clip(n=3), loop=loop)
    assert gif_io.read_gif_info(result.gif_bytes).loop == loop
    with Image.open(io.BytesIO(result.gif_bytes)) as im:
        assert im.info.get("loop") == loop


def test_timing_accumulates_to_the_clip_length():
    # 29.97 fps: 3.34/100 s per frame; per-frame rounding would drift 0.34/100 s a frame (1/3 s over 100 frames)
    n = 100
    frames = [np.full((4, 4, 3), 10 * (i % 20), np.uint8) for i in range(n)]
    result = encode(frames, fps=29.97, colors=32, quality=100, palette_mode="frame")
    _, delays = animation.composite_gif(result.gif_bytes)
    starts = np.concatenate([[0], np.cumsum(delays)])
    assert abs(starts[-1] - 100 * n / 29.97) <= 1.0
    assert np.all(np.abs(starts[:-1] - 100 * np.arange(n) / 29.97) <= 0.5 + 1e-9)
    assert min(delays) >= animation.MIN_DELAY_CS


def test_unchanged_frames_merge_and_fast_frames_drop():
    still = [np.full((8, 8, 3), 100, np.uint8)] * 5 + [np.full((8, 8, 3), 200, np.uint8)]
    result = encode(still, fps=10, colors=4)
    frames, delays = animation.composite_gif(result.gif_bytes)
    assert delays == [50, 10] and len(frames) == 2
    fast = [np.full((8, 8, 3), 20 * i, np.uint8) for i in range(10)]  # 100 fps: only every 2nd frame can show
    result = encode(fast, fps=100, colors=16)
    _, delays = animation.composite_gif(result.gif_bytes)
    assert sum(delays) == 10 and min(delays) >= 2


def test_durations_of_pairs_are_kept():
    frames = moving_clip(n=3)
    result = animate.encode_frames(((f, d) for f, d in zip(frames, (120, 30, 250))), None, palette="median-cut",
                                   dither="none", colors=16)
    assert animation.composite_gif(result.gif_bytes)[1] == [12, 3, 25]


def test_bad_frames():
    with pytest.raises(GifnetsError, match="no frames"):
        encode([])
    with pytest.raises(GifnetsError, match="same size"):
        encode([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)])
    with pytest.raises(GifnetsError, match="fps"):
        encode(moving_clip(2), fps=0)


def test_output_path_is_atomic(tmp_path):
    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        yield np.zeros((8, 8, 3), np.uint8) + 9
        raise GifnetsError("the source broke")

    out = tmp_path / "a.gif"
    with pytest.raises(GifnetsError, match="broke"):
        animate.encode_frames(frames(), str(out), palette="median-cut", dither="none", fps=10)
    assert list(tmp_path.iterdir()) == []
    result = animate.encode_frames(iter(moving_clip(3)), str(out), palette="median-cut", dither="none", fps=10)
    assert out.stat().st_size == result.bytes


def test_reader_gives_composited_frames_of_foreign_animations(tmp_path):
    """iter_frames (the API issue 26 reads GIFs with) on a Pillow-written GIF with cropped frames, and an APNG."""
    frames = moving_clip(n=4)
    ims = [Image.fromarray(f).quantize(64) for f in frames]
    path = tmp_path / "p.gif"
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=70, loop=0, optimize=True)
    got = list(animation.iter_frames(str(path)))
    ours, _ = animation.composite_gif(str(path))
    assert len(got) == len(ours) == 4
    for (rgb, ms), mine in zip(got, ours):
        np.testing.assert_array_equal(rgb, mine)
        assert ms == 70
    apng = tmp_path / "a.png"
    Image.fromarray(frames[0]).save(apng, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]],
                                    duration=50)
    got = list(animation.iter_frames(str(apng)))
    assert len(got) == 4
    np.testing.assert_array_equal(got[3][0], frames[3])


def test_network_palettes_with_tiny_networks(use_tiny_weights, monkeypatch):
    """The default palette stage (PaletteNet + k-means) on a generator, with the tiny test networks (DitherNet on
    frames is the stills' stage, tested there; here each crop shape would trace it again)."""
    monkeypatch.setenv("GIFNETS_XLA", "off")
    frames = moving_clip(n=3)
    result = animate.encode_frames((f for f in frames), None, fps=10, colors=8, palette_mode="mixed", dither="none")
    assert result.methods == ("net+kmeans", "none")
    shown, _ = animation.composite_gif(result.gif_bytes)
    assert len(shown) == 3
    psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, shown)])
    assert abs(psnr - result.psnr) < 1e-3 and psnr > 15


def test_ordered_dither_is_fixed_to_the_canvas_and_decoders_agree():
    """``dither="ordered"``: a still gradient is dithered (several indices) and never rewritten; background that a
    moving square uncovers shows exactly what a clip of the still background alone shows there (the mask does not
    move with the frame's rectangle); Pillow and ffmpeg composite the same frames."""
    h, w = 40, 64
    y, x = np.mgrid[0:h, 0:w]
    background = np.stack([60 + x, 80 + y // 2, 120 + 0 * x], axis=2).astype(np.uint8)  # a smooth gradient
    frames = []
    for t in range(4):
        f = background.copy()
        f[4:20, 4 + 12 * t:20 + 12 * t] = (250, 40, 30)
        frames.append(f)
    options = dict(dither="ordered", quality=50, colors=16, palette_mode="global", sample_frames=[background])
    result = encode(frames, **options)
    assert result.methods[1] == "ordered"
    shown, _ = animation.composite_gif(result.gif_bytes)
    alone, _ = animation.composite_gif(encode([background, background], **options).gif_bytes)
    assert len(shown) == 4 and len(alone) == 1
    assert len(np.unique(alone[0][24:, :].reshape(-1, 3), axis=0)) >= 4  # the gradient is dithered, not flat
    for a, b in zip(shown, shown[1:]):
        np.testing.assert_array_equal(a[24:], b[24:])  # still rows: never rewritten
    np.testing.assert_array_equal(shown[0][24:], alone[0][24:])
    np.testing.assert_array_equal(shown[-1][4:20, 4:40], alone[0][4:20, 4:40])  # uncovered: same as the still clip
    for name, theirs in (("pillow", pillow_frames(result.gif_bytes)), ("ffmpeg", ffmpeg_frames(result.gif_bytes, w, h))):
        assert len(theirs) == len(shown), name
        for i, (a, b) in enumerate(zip(shown, theirs)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} frame {i}")


def test_auto_dither_follows_quality():
    """``auto`` is ``ed`` at every quality, on half the palette up to HALF_PALETTE_MAX_QUALITY (at least 16 colours);
    ``--dither ed`` and ``--dither ordered`` take the same half, ``--dither none`` the whole palette."""
    frames = moving_clip(n=3)
    runs = {q: animate.encode_frames(iter(frames), None, palette="median-cut", fps=10, quality=q) for q in (10, 40, 70, 90)}
    assert {r.methods[1] for r in runs.values()} == {"ed"}
    for q in (10, 40, 56, 90):
        s = animate.quality_settings(q)
        half = q <= animate.HALF_PALETTE_MAX_QUALITY
        assert s["dither"] == "ed" and s["dither_colors"] == (max(16, s["colors"] // 2) if half else s["colors"]), q
    low = runs[40]
    size = {}
    for dither in ("none", "ed", "ordered"):
        r = animate.encode_frames(iter(frames), None, palette="median-cut", fps=10, quality=40, dither=dither)
        assert r.methods[1] == dither
        size[dither] = len(gif_io.decode_gif(r.gif_bytes)[0].palette)
        if dither == "ed":
            assert r.gif_bytes == low.gif_bytes  # auto's ed is --dither ed
    assert size["ed"] == size["ordered"] < size["none"], size


def test_error_diffusion_threshold_floor_keeps_still_pixels_still():
    """``dither="ed"`` at q90 (threshold 1): a background drifting by 2 levels a frame is not rewritten (the floor,
    ED_MIN_THRESHOLD = 2), so the error-diffusion pattern on it cannot crawl; a 3-level step is rewritten."""
    assert animate.quality_settings(90)["threshold"] < animate.ED_MIN_THRESHOLD == 2
    y, x = np.mgrid[0:32, 0:40]
    base = np.stack([x * 6, y * 7, (x + y) * 3], axis=2).astype(np.int16)
    def clip(step):
        return [np.clip(base + (k % 2) * step, 0, 255).astype(np.uint8) for k in range(4)]
    def changed(step):
        result = encode(clip(step), quality=90, colors=32, dither="ed", palette_mode="global")
        shown, _ = animation.composite_gif(result.gif_bytes)
        assert result.methods[1] == "ed"
        return sum(int(np.any(a != b)) for a, b in zip(shown, shown[1:]))
    assert changed(2) == 0
    assert changed(3) == 3


def test_keep_margin_stops_noise_flipping_still_pixels(monkeypatch):
    """q90 (threshold 1): sensor-like noise of +-2 levels rewrites still pixels; with keep_margin a rewritten pixel
    keeps its colour when that is within a level as close to the source as the new one, so far less flicker."""
    rng = np.random.default_rng(5)
    x = np.linspace(0, 255, 48)
    base = np.broadcast_to(np.stack([x, x[::-1], 0.5 * x + 60], -1), (32, 48, 3))
    frames = [np.clip(base + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]

    def flicker(margin):
        monkeypatch.setattr(animate, "KEEP_MARGIN", margin)
        assert animate.quality_settings(90)["keep_margin"] == margin
        result = encode(frames, quality=90, colors=32, palette_mode="global")
        shown, _ = animation.composite_gif(result.gif_bytes)
        return np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(shown, shown[1:])]), result.psnr

    (kept, psnr_kept), (plain, psnr_plain) = flicker(1), flicker(0)
    assert kept < 0.6 * plain, (kept, plain)
    assert psnr_kept > psnr_plain - 0.5
    assert animate.quality_settings(70)["keep_margin"] == 0


def test_tiered_palettes_full_first_frame_small_local_tables():
    """``palette_mode="tiered"``: the first frame on the large table (256 entries), later frames on small local tables
    fitted to their changed pixels; a changed pixel is rewritten only when its new colour is closer to its source
    than the one shown; Pillow, ffmpeg and our compositor see the same frames, and the encoder's PSNR is theirs."""
    frames = moving_clip(n=6)
    result = encode(frames, palette_mode="tiered", quality=50, colors=256)
    assert result.palette_mode == "tiered" and result.methods[1] == "none"
    raw = gif_io.decode_gif(result.gif_bytes)
    assert len(raw) == len(frames)
    assert len(raw[0].palette) == 256 and raw[0].indices.shape == (40, 48)
    local = animate.tier_local_colors(50)
    assert local == 32
    assert all(len(f.palette) <= local and f.transparent_index is not None for f in raw[1:])
    assert len({f.palette.tobytes() for f in raw[1:]}) >= 2  # fitted per frame
    ours, _ = animation.composite_gif(result.gif_bytes)
    for name, theirs in (("pillow", pillow_frames(result.gif_bytes)), ("ffmpeg", ffmpeg_frames(result.gif_bytes, 48, 40))):
        assert len(theirs) == len(ours), name
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} frame {i}")
    rewritten = 0
    for prev, cur, src in zip(ours, ours[1:], frames[1:]):
        moved = (prev != cur).any(-1)
        rewritten += int(moved.sum())
        e_new = ((cur[moved].astype(int) - src[moved]) ** 2).sum(-1)
        e_old = ((prev[moved].astype(int) - src[moved]) ** 2).sum(-1)
        assert (e_new < e_old).all()
    assert rewritten > 0
    psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, ours)])
    assert abs(psnr - result.psnr) < 1e-3


@pytest.mark.parametrize("mode", ["global", "frame"])
def test_lossy_search_smaller_files_same_frames_in_every_decoder(mode):
    """``lossy=True``: the run search picks every frame's indices (transparent ones included); Pillow, ffmpeg and our
    compositor see the same frames, the encoder's PSNR is theirs, and the file is smaller than the nearest colours'."""
    grain = np.random.default_rng(7).integers(-24, 25, (64, 96, 3))  # film grain, the same in every frame
    frames = [np.clip(f + grain, 0, 255).astype(np.uint8) for f in moving_clip(n=6, h=64, w=96, seed=2)]
    plain = encode(frames, palette_mode=mode, quality=50, colors=32, dither="none")  # the same palette size
    result = encode(frames, palette_mode=mode, quality=50, colors=32, lossy=True)
    assert result.lossy == animate.quality_settings(50)["lossy_lambda"] > 0 and plain.lossy == 0
    assert result.stats()["lossy"] == round(result.lossy, 1)
    assert result.bytes < 0.9 * plain.bytes, (result.bytes, plain.bytes)
    ours, _ = animation.composite_gif(result.gif_bytes)
    for name, theirs in (("pillow", pillow_frames(result.gif_bytes)),
                         ("ffmpeg", ffmpeg_frames(result.gif_bytes, 96, 64))):
        assert len(theirs) == len(ours), name
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} frame {i}")
    psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, ours)])
    assert abs(psnr - result.psnr) < 1e-3
    assert result.psnr > plain.psnr - 3.0


def test_lossy_keeps_still_areas_still_and_its_price_orders_bytes():
    frames = moving_clip(n=8, seed=4)
    results = [encode(frames, quality=50, colors=32, palette_mode="global", lossy=lam) for lam in (30.0, 300.0, 3000.0)]
    sizes = [r.bytes for r in results]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    shown, _ = animation.composite_gif(results[1].gif_bytes)
    for a, b in zip(shown, shown[1:]):  # the background away from the square and the drifting corner
        np.testing.assert_array_equal(a[26:32, 30:40], b[26:32, 30:40])


def test_lossy_refuses_what_it_cannot_combine_with():
    frames = moving_clip(n=3)
    with pytest.raises(GifnetsError, match="--dither ed"):
        encode(frames, lossy=True, dither="ed")
    with pytest.raises(GifnetsError, match="tiered"):
        encode(frames, lossy=True, palette_mode="tiered")
    with pytest.raises(GifnetsError, match=">= 0"):
        encode(frames, lossy=-1.0)
    assert animate.quality_settings(30)["lossy_lambda"] > animate.quality_settings(50)["lossy_lambda"] \
        > animate.quality_settings(90)["lossy_lambda"] > 0


def gradient_clip(n: int = 4, h: int = 48, w: int = 64, drift: int = 1, levels: int = 0) -> list[np.ndarray]:
    """A smooth colour gradient (many colours: a small palette leaves a large error on it) brightening by ``drift``
    levels a frame, with a square moving over it; ``levels``: posterised to that many levels a channel (few colours)."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), 255 - (x + y) * 255 // (w + h - 2)], axis=2).astype(np.int16)
    frames = []
    for t in range(n):
        f = base + drift * t
        f[8:16, 4 + 6 * t:12 + 6 * t] = (250, 40, 30)
        f = np.clip(f, 0, 255)
        if levels:
            f = (f * (levels - 1) + 127) // 255 * 255 // (levels - 1)
        frames.append(f.astype(np.uint8))
    return frames


def test_auto_dither_at_the_top_is_ed():
    """Above HALF_PALETTE_MAX_QUALITY ``auto`` is ``ed`` (over the canvas) whatever the palette's error: on a smooth gradient
    and on the gradient posterised, in every palette mode but ``tiered`` (no dither on its local tables), and never
    with ``--dither none``; ``ed`` by auto writes what ``--dither ed`` writes."""
    frames = gradient_clip()
    for q in (56, 90, 100):
        assert animate.quality_settings(q)["dither"] == "ed"
    small = encode(frames, quality=90, colors=16, dither="auto", palette_mode="global")
    assert small.methods[1] == "ed"
    assert encode(gradient_clip(levels=8), quality=90, colors=256, dither="auto", palette_mode="global").methods[1] \
        == "ed"
    for kw in ({"dither": "none"}, {"palette_mode": "tiered"}):
        assert encode(frames, quality=90, colors=16, **{"dither": "auto", "palette_mode": "global", **kw}).methods[1] \
            == "none", kw
    assert encode(frames, quality=90, colors=16, dither="auto", palette_mode="frame").methods[1] == "ed"
    assert encode(frames, quality=90, colors=16, palette_mode="global", dither="ed").gif_bytes == small.gif_bytes


def test_quality_is_monotonic_at_the_top_with_ed():
    """With ``ed`` (auto's choice) q85-95 keep the threshold floor (2 levels), q96-99 have 1 and q100 none; the canvas
    bias falls above ED_BIAS_KNEE and is 0 at q100 (ED_MAX_QUALITY_EXACT): bytes never fall as quality rises, and q100
    spends more than q90."""
    s = {q: animate.quality_settings(q) for q in (50, 80, 84, 85, 90, 95, 96, 99, 100)}
    assert [s[q]["ed_floor"] for q in (84, 95, 96, 99, 100)] == [2, 2, 1, 1, 0]
    bias = [s[q]["ed_bias"] for q in (50, 80, 85, 90, 95, 99, 100)]
    assert bias[0] == bias[1] == animate.ED_BG_BIAS and bias[1:] == sorted(bias[1:], reverse=True), bias
    assert bias[-1] == 0 < bias[-2]
    assert s[90]["ed_bias"] == pytest.approx(animate.ED_BG_BIAS * 2 ** (-10 / animate.ED_BIAS_HALVING))
    assert s[50]["ed_samples"] == animate.GLOBAL_SAMPLES < s[85]["ed_samples"] == animate.TOP_SAMPLES
    frames = gradient_clip(n=5)
    results = [encode(frames, quality=q, colors=16, dither="auto", palette_mode="global") for q in (85, 90, 95, 100)]
    assert {r.methods[1] for r in results} == {"ed"}
    sizes = [r.bytes for r in results]
    assert sizes == sorted(sizes) and sizes[1] < sizes[3], sizes
    # luma PSNR (what animations' ed keeps close: ED_CHROMA) within 0.01 dB of non-decreasing (on 16 colours a
    # stronger bias can cost a thousandth of a dB), and up at q100; RGB PSNR within 0.05 dB
    lumas = []
    for r in results:
        shown, _ = animation.composite_gif(r.gif_bytes)
        y = np.stack([(a.astype(np.float64) - b) @ (0.299, 0.587, 0.114) for a, b in zip(shown, frames)])
        lumas.append(10 * np.log10(255 ** 2 / np.mean(y ** 2)))
    assert all(b >= a - 0.01 for a, b in zip(lumas, lumas[1:])) and lumas[3] > lumas[0], lumas
    assert max(r.psnr for r in results) - min(r.psnr for r in results) < 0.05


def test_ed_at_the_top_fits_its_palette_to_more_frames():
    """From q85 ``ed``'s global palette comes from the first TOP_SAMPLES frames (no dither: GLOBAL_SAMPLES): a colour
    that first appears in frame 18 is in the q90 ``ed`` palette, not in the q80 one."""
    frames = gradient_clip(n=20, drift=0)
    for f in frames[18:]:
        f[:, 24:] = (255, 0, 255)

    def distance(quality):
        result = encode(frames, quality=quality, colors=16, dither="ed", palette_mode="global")
        pal = np.asarray(gif_io.decode_gif(result.gif_bytes)[0].palette, np.int32).reshape(-1, 3)
        return int(np.abs(pal - (255, 0, 255)).max(1).min())

    assert animate.GLOBAL_SAMPLES < 18 < animate.TOP_SAMPLES
    assert distance(90) < 40 < distance(80)


def test_ed_over_the_canvas_keeps_shown_colours_and_the_decoders_agree(monkeypatch):
    """``ed`` over the canvas (ED_BG_BIAS): on a clip whose background is re-noised by a few levels each frame, the
    colour a pixel shows is one more candidate, so a larger bias writes fewer pixels and fewer bytes (off: None, each
    changed pixel dithered alone); what is written decodes the same in Pillow and ffmpeg, and the encoder's PSNR is
    that of the decoded frames (its canvas is the decoders')."""
    rng = np.random.default_rng(4)
    frames = [np.clip(f.astype(np.int16) + rng.integers(-4, 5, f.shape), 0, 255).astype(np.uint8)
              for f in moving_clip(n=5)]
    written, sizes = [], []
    for bias in (None, 0.0, 40.0, 1e6):
        monkeypatch.setattr(animate, "ED_BG_BIAS", bias)
        assert (animate.quality_settings(80)["ed_bias"] is None) == (bias is None)
        result = encode(frames, quality=80, colors=32, dither="ed", palette_mode="global")
        raw = gif_io.decode_gif(result.gif_bytes)
        written.append(sum(int(np.sum(f.indices != f.transparent_index)) for f in raw[1:]))
        sizes.append(result.bytes)
        if bias == 40.0:
            ours, _ = animation.composite_gif(result.gif_bytes)
            for name, theirs in (("pillow", pillow_frames(result.gif_bytes)),
                                 ("ffmpeg", ffmpeg_frames(result.gif_bytes, 48, 40))):
                assert len(theirs) == len(ours) == len(frames), name
                for i, (a, b) in enumerate(zip(ours, theirs)):
                    np.testing.assert_array_equal(a, b, err_msg=f"{name} frame {i}")
            psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, ours)])
            assert abs(psnr - result.psnr) < 1e-3
    assert written[0] > written[1] > written[2] > written[3], written
    assert sizes[0] > sizes[2] > sizes[3], sizes
    # with the bias all but forcing the canvas, only the moving square's new pixels are written
    assert written[3] < 0.2 * written[0], written


def test_ed_in_animations_keeps_luma_closer_than_the_rgb_weights(monkeypatch):
    """``ed`` in animations measures colour distance mostly in luma (ED_CHROMA): on a 16-colour moving clip the
    decoded frames have less luma error than with the R : G : B channel weights (ED_CHROMA None), more chroma
    error, and the file stays within 10 % of the size."""
    from gif_pipeline.quant import error_diffusion

    frames = moving_clip(n=4)
    out = {}
    for chroma in (None, 0.25):
        monkeypatch.setattr(animate, "ED_CHROMA", chroma)
        result = encode(frames, quality=80, colors=16, dither="ed", palette_mode="global")
        shown, _ = animation.composite_gif(result.gif_bytes)
        e = np.stack([(a.astype(np.float64) - b) @ error_diffusion.YCBCR.T for a, b in zip(shown, frames)])
        out[chroma] = np.mean(e[..., 0] ** 2), np.mean(e[..., 1:] ** 2), result.bytes
    assert out[0.25][0] < 0.85 * out[None][0] and out[0.25][1] > out[None][1], out
    assert abs(out[0.25][2] - out[None][2]) < 0.1 * out[None][2], out


def colour_shift_clip(n: int = 40, h: int = 24, w: int = 32) -> list[np.ndarray]:
    """Smooth gradients whose hue moves from red to blue over the clip: the first frames' palette misses the last."""
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        a = t / (n - 1)
        f = np.stack([(1 - a) * (120 + 4 * x), 60 + 3 * y + 0 * x, a * (120 + 4 * x)], axis=2)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def test_spread_samples_takes_first_last_and_evenly_between():
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(10)]
    picked = [int(f[0, 0, 0]) for f in animate.spread_samples(frames, 4)]
    assert picked == [0, 3, 6, 9]
    assert [int(f[0, 0, 0]) for f in animate.spread_samples([(f, 40) for f in frames[:3]], 8)] == [0, 1, 2]


def test_a_list_of_frames_gets_its_palette_from_the_whole_clip():
    """Given a list, the global palette's samples span the clip (the CLI samples a file the same way); a generator's
    palette comes from its first frames, which here lack the last frames' blue."""
    clip = colour_shift_clip()
    kw = dict(fps=10, palette="median-cut", dither="none", palette_mode="global", quality=50)
    listed = animate.encode_frames(clip, None, **kw)
    spread = animate.encode_frames(iter(clip), None, sample_frames=animate.spread_samples(
        clip, animate.sample_count(50, "none", "global")), **kw)
    assert listed.gif_bytes == spread.gif_bytes
    streamed = animate.encode_frames(iter(clip), None, **kw)
    shown = pillow_frames(listed.gif_bytes)
    shown_streamed = pillow_frames(streamed.gif_bytes)
    err = lambda a, b: float(np.abs(a.astype(int) - b).mean())  # noqa: E731
    assert err(shown[-1], clip[-1]) < 0.5 * err(shown_streamed[-1], clip[-1])


def test_sample_count_follows_the_dither_the_settings_choose():
    assert animate.sample_count(90) == animate.TOP_SAMPLES  # ed from KEEP_MIN_QUALITY up
    assert animate.sample_count(50) == animate.GLOBAL_SAMPLES
    assert animate.sample_count(90, lossy=True) == animate.GLOBAL_SAMPLES
    assert animate.sample_count(90, dither="none") == animate.GLOBAL_SAMPLES


def test_stills_and_animations_sample_small_frames_spread_over_the_clip(tmp_path):
    from gif_pipeline.io import sources

    stills = [Image.fromarray(np.full((400, 500, 3), 20 * i, np.uint8)) for i in range(9)]
    paths = [str(tmp_path / f"f{i}.png") for i in range(9)]
    for im, p in zip(stills, paths):
        im.save(p)
    got = sources.from_stills(paths).samples(3)
    assert [int(f[0, 0, 0]) for f in got] == [0, 80, 160]  # first, middle, last of 9
    assert min(got[0].shape[:2]) == sources.SAMPLE_SIDE
    gif = tmp_path / "anim.gif"
    stills[0].save(gif, save_all=True, append_images=stills[1:], duration=100, loop=0)
    got = sources.from_image(str(gif)).samples(3)
    assert [int(f[0, 0, 0]) for f in got] == [0, 80, 160]  # first, middle, last of 9
    assert min(got[0].shape[:2]) == sources.SAMPLE_SIDE


def test_with_sample_frames_a_generator_is_read_only_as_far_as_the_trial():
    """``sample_frames`` given (as ``gifnets encode`` gives them): the encoder holds only ``auto``'s trial frames before
    it writes, not the 64 samples of q90 (a 1080p clip's 400 MB)."""
    clip = colour_shift_clip(n=70, h=8, w=8)
    for samples, most in ((clip[::10], animate.TRIAL_FRAMES + 1), (None, None)):
        pulled, first_write = [0], []

        def frames():
            for f in clip:
                pulled[0] += 1
                yield f

        animate.encode_frames(frames(), None, fps=10, quality=90, palette="median-cut", sample_frames=samples,
                              progress=lambda _: first_write or first_write.append(pulled[0]))
        if most is not None:
            assert first_write[0] <= most
        else:
            assert first_write[0] >= animate.TOP_SAMPLES  # the palette's samples come from the head


def test_frame_palettes_at_the_low_end_are_refitted_only_when_they_no_longer_fit():
    """``palette_mode="frame"`` up to ``HALF_PALETTE_MAX_QUALITY``: a frame keeps the last palette while its changed
    pixels fit it within ``FRAME_REFIT_RATIO`` of the error where it was fitted, and gets a new one at a scene
    change; above that quality every frame gets its own. The decoders still agree."""
    rng = np.random.default_rng(3)
    warm = moving_clip(n=5, seed=3)  # a square moving over a fixed background
    cold = [np.clip(f.astype(np.int16)[..., ::-1] // 2 + rng.integers(0, 3, f.shape), 0, 255).astype(np.uint8)
            for f in moving_clip(n=3, seed=4)]  # another scene: other colours
    frames = warm + cold
    q = animate.HALF_PALETTE_MAX_QUALITY
    assert animate.quality_settings(q)["frame_refit"] == animate.FRAME_REFIT_RATIO > 1
    assert animate.quality_settings(q + 1)["frame_refit"] == 0
    low = encode(frames, palette_mode="frame", quality=q, colors=32)
    high = encode(frames, palette_mode="frame", quality=q + 1, colors=32)
    tables = [f.palette.tobytes() for f in gif_io.decode_gif(low.gif_bytes)]
    assert len(tables) == len(frames)
    assert tables[5] != tables[4]  # the scene change: a new palette
    assert len(set(tables[:5])) < 5 and len(set(tables[5:])) < 3  # within a scene: kept
    assert low.palettes < high.palettes
    assert len({f.palette.tobytes() for f in gif_io.decode_gif(high.gif_bytes)}) > len(set(tables))
    ours, _ = animation.composite_gif(low.gif_bytes)
    for i, (a, b) in enumerate(zip(ours, pillow_frames(low.gif_bytes))):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {i}")
    psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, ours)])
    assert abs(psnr - low.psnr) < 1e-3 and psnr > 25


def test_auto_at_the_low_end_tries_global_and_frame_only(monkeypatch):
    """``palette_mode="auto"`` up to ``HALF_PALETTE_MAX_QUALITY`` (without ``lossy``) tries ``TRIAL_LOW_MODES``; above
    it, and with ``lossy``, also ``mixed``."""
    made = []
    init = animate._Encoder.__init__

    def recording(self, writer, colors, palette_stage, dither_stage, mode, *args):
        made.append(mode)
        init(self, writer, colors, palette_stage, dither_stage, mode, *args)

    monkeypatch.setattr(animate._Encoder, "__init__", recording)
    frames = moving_clip(n=8)
    q = animate.HALF_PALETTE_MAX_QUALITY
    for quality, lossy, expect_mixed in ((q, False, False), (q + 1, False, True), (q, True, True)):
        made.clear()
        result = encode(frames, quality=quality, colors=32, lossy=lossy)
        assert ("mixed" in made) == expect_mixed, (quality, lossy, made)
        assert "frame" in made and (expect_mixed or "global" in made)  # (mixed's encoder can stand in for global)
        assert result.palette_mode in (animate.TRIAL_LOW_MODES if not expect_mixed else animate.PALETTE_MODES)
