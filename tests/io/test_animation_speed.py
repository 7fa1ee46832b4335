"""The animation encoder's fast paths give what the plain computations give (issue 25, speed): the nearest-colour
table across palette changes, the sort-based distinct colours, the uint8 keep margin and masked copies, and
``palette_mode="auto"`` carrying on from its trial (the same bytes as naming the mode it picked)."""
from __future__ import annotations

import numpy as np
import pytest

from gif_pipeline import animate
from gif_pipeline.io import animation
from gif_pipeline.quant import dithering


def test_distinct_packed_is_np_unique():
    rng = np.random.default_rng(1)
    for values in (rng.integers(0, 1 << 24, 5000).astype(np.uint32), rng.integers(0, 40, 3000).astype(np.int32),
                   np.array([7], np.uint32), np.zeros(0, np.uint32), np.full(100, 3, np.int32)):
        got = dithering.distinct_packed(values)
        np.testing.assert_array_equal(got, np.unique(values))
        assert got.dtype == values.dtype


def test_nearest_cache_equals_a_palette_search_across_palette_changes():
    """Palettes met once, met again (the table is rebuilt from the colours the one-off call searched), and a single
    colour; frames that repeat colours and bring new ones."""
    rng = np.random.default_rng(2)
    palettes = [rng.integers(0, 256, (k, 3)).astype(np.uint8) for k in (31, 255, 4)]
    base = rng.integers(0, 256, (24, 30, 3)).astype(np.uint8)
    cache = animate._NearestCache()
    order = [0, 0, 1, 0, 0, 0, 2, 2, 1, 1, 1]
    for step, p in enumerate(order):
        frame = base.copy()
        frame[step:step + 6] = rng.integers(0, 256, (6, 30, 3))  # new colours every frame
        got = cache(frame, palettes[p])
        np.testing.assert_array_equal(got, dithering.nearest(frame, palettes[p]), err_msg=f"step {step}")
    one = np.array([[10, 20, 30]], np.uint8)
    assert not cache(base, one).any()


def test_absmax_and_copy_where_are_the_plain_expressions():
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 256, (9, 11, 3)).astype(np.uint8) for _ in range(2))
    np.testing.assert_array_equal(animate._absmax(a, b), np.abs(a.astype(int) - b).max(-1))
    mask = rng.random((9, 11)) < 0.5
    want = a.copy()
    want[mask] = b[mask]
    got = a.copy()
    animate._copy_where(got, b, mask)
    np.testing.assert_array_equal(got, want)


def scene_cut_clip(n: int = 8, h: int = 36, w: int = 44) -> list[np.ndarray]:
    """A gradient with a moving square, then (from frame 3) a different picture: ``mixed`` refits there."""
    y, x = np.mgrid[0:h, 0:w]
    first = np.stack([x * 5, y * 6, 40 + 0 * x], axis=2)
    second = np.stack([250 - y * 6, 30 + 0 * x, x * 5], axis=2)
    frames = []
    for t in range(n):
        f = (first if t < 3 else second).copy()
        f[3 + t:11 + t, 4 + 3 * t:12 + 3 * t] = (250, 240, 20)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def noisy_clip(n: int = 8, h: int = 36, w: int = 44) -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 5, y * 6, (x + y) * 2], axis=2)
    return [np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


@pytest.mark.parametrize("quality", [50, 70, 90])
def test_auto_carries_on_from_its_trial_with_the_bytes_of_the_mode_it_picked(quality, monkeypatch):
    """``auto`` encodes the first frames in each mode at full size (these clips are below TRIAL_SHORT_SIDE) and the
    winner goes on from there: its GIF must be byte for byte the one a fresh encoder in that mode writes. BITS_DB
    from 0 (PSNR alone) to 100 (bytes alone) makes different modes win; on the scene cut ``mixed`` leaves the global
    palette (fitted to the first scene only), so ``global``'s trial runs on its own. No loop extension and no
    verification give the same bytes too."""
    picked = set()
    cut = scene_cut_clip()
    for clip, samples in ((cut, cut[:3]), (noisy_clip(), None)):
        for bits_db in (0.0, 4.0, 100.0):
            monkeypatch.setattr(animate, "BITS_DB", bits_db)
            ticks = []
            options = dict(fps=10, quality=quality, palette="median-cut", sample_frames=samples)
            auto = animate.encode_frames(iter(clip), None, progress=ticks.append, **options)
            named = animate.encode_frames(iter(clip), None, palette_mode=auto.palette_mode, **options)
            assert auto.gif_bytes == named.gif_bytes, (quality, bits_db, auto.palette_mode)
            assert auto.psnr == named.psnr and len(ticks) == len(clip) == auto.frames_in
            picked.add(auto.palette_mode)
    assert {"global", "frame"} <= picked, picked
    sizes = [len(animate.encode_frames(iter(cut[:2]), None, fps=10, palette="median-cut", palette_mode="global",
                                       loop=loop).gif_bytes) for loop in (0, None)]
    assert sizes[0] - sizes[1] == animate.LOOP_EXTENSION_BYTES
    for loop, verify in ((None, True), (3, False)):  # the trial's writer is made as the real one
        options = dict(fps=10, quality=quality, palette="median-cut", loop=loop, verify=verify)
        auto = animate.encode_frames(iter(cut), None, **options)
        named = animate.encode_frames(iter(cut), None, palette_mode=auto.palette_mode, **options)
        assert auto.gif_bytes == named.gif_bytes, (loop, verify)
    mixed = animate.encode_frames(iter(cut), None, fps=10, quality=quality, palette="median-cut", sample_frames=cut[:3],
                                  palette_mode="mixed")
    assert mixed.palettes >= 2  # the scene cut made mixed refit, so the global trial ran separately


def wide_clip(n: int = 12, h: int = 22, w: int = 58) -> list[np.ndarray]:
    """Wider than tall (``ed`` scans its columns), with a still frame (nothing to write: the pending frames are
    finished first) and frames whose change is a small box (another crop size: another batch)."""
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        f = np.stack([x * 4 + 3 * t, y * 9, 200 - x * 3], axis=2) + rng.integers(-12, 13, (h, w, 3))
        if t in (5, 6):  # frame 5: only a box changes; frame 6 repeats it
            f = frames[4].astype(int).copy()
            f[4:9, 10:30] = (250, 30, 30)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize("canvas", [False, True])
@pytest.mark.parametrize("mode", ["global", "frame", "mixed", "auto"])
def test_ed_frames_dithered_in_batches_give_the_bytes_of_one_at_a_time(mode, canvas, monkeypatch):
    """``ed`` (the default from q56) handles up to DITHER_BATCH frames at once: without the canvas candidate they are
    dithered in one call; over the canvas (ED_BG_BIAS, the default) their dither maps are computed together and their
    scans run one after the other on the scan thread, behind the next frames' palettes. Either way the GIF and its
    error are those of one frame at a time."""
    assert animate.quality_settings(70)["dither"] == "ed"
    if not canvas:
        monkeypatch.setattr(animate, "ED_BG_BIAS", None)
    clip = wide_clip()
    options = dict(fps=10, quality=70, palette="median-cut", palette_mode=mode)
    sizes = []
    batch, scan = animate._ErrorDiffusion.batch, animate._Encoder._scan_over_canvas

    def counted(self, crops, palettes):
        sizes.append(len(crops))
        return batch(self, crops, palettes)

    def counted_scan(self, pending, crops, maps):
        sizes.append(len(pending))
        return scan(self, pending, crops, maps)

    monkeypatch.setattr(animate._ErrorDiffusion, "batch", counted)
    monkeypatch.setattr(animate._Encoder, "_scan_over_canvas", counted_scan)
    monkeypatch.setattr(animate, "DITHER_BATCH", 1)
    one = animate.encode_frames(iter(clip), None, **options)
    assert max(sizes, default=1) == 1
    sizes.clear()
    monkeypatch.setattr(animate, "DITHER_BATCH", 4)
    batched = animate.encode_frames(iter(clip), None, **options)
    assert max(sizes) == 4  # frames were handled together
    assert batched.gif_bytes == one.gif_bytes and batched.psnr == one.psnr
    assert batched.frames_written == one.frames_written < len(clip)  # the still frame wrote nothing


def test_the_animation_ed_stage_is_error_diffusion_by_columns_of_wide_frames():
    """The still images' error diffusion without the dither map (its cached nearest colours, used for the map, would
    change nothing) and with the luma-weighted distance (ED_CHROMA); a frame wider than tall is scanned down its
    columns."""
    from gif_pipeline.quant import error_diffusion

    stage = animate._ErrorDiffusion()
    metric = stage.settings.pop("channel_weights")
    assert stage.settings == {k: v for k, v in dithering.ED_SETTINGS.items() if k != "channel_weights"} | {
        "dither_map": False}
    np.testing.assert_allclose(metric, error_diffusion.luma_metric(animate.ED_CHROMA, dithering.ED_LUMA_SCALE))
    stage.settings["channel_weights"] = metric
    clip = wide_clip()
    rng = np.random.default_rng(7)
    pals = [rng.integers(0, 256, (k, 3)).astype(np.uint8) for k in (20, 20, 7)]
    for i, frame in enumerate(clip[:6]):
        for rgb in (frame, np.ascontiguousarray(frame.transpose(1, 0, 2))):
            pal = pals[min(i // 2, 2)]
            got = stage(rgb, pal)
            wide = rgb.shape[1] > rgb.shape[0]
            want = error_diffusion.error_diffusion(rgb, pal, columns=wide, **stage.settings)
            np.testing.assert_array_equal(got, want)
            if wide:
                assert not np.array_equal(got, error_diffusion.error_diffusion(rgb, pal, **stage.settings))


@pytest.mark.parametrize("where", ["scan", "write"])
def test_an_error_on_the_scan_or_write_thread_reaches_the_caller_and_leaves_no_file(tmp_path, monkeypatch, where):
    """The scans (``ed`` over the canvas) and the LZW coding run on threads behind the frames: an error raised there on
    the 4th frame is raised by ``encode_frames``, the threads are waited for, and no GIF is left on disk; the next
    encode on the same threads gives the bytes of an encode that never failed."""
    clip = wide_clip()
    clean = animate.encode_frames(iter(clip), None, fps=10, quality=70, dither="ed", palette_mode="global").gif_bytes
    target = (animate._Encoder, "_add_over_canvas", 3) if where == "scan" else (animation.AnimationWriter, "add", 4)
    owner, name, fail_at = target
    original, calls = getattr(owner, name), []

    def broken(self, *args):
        calls.append(1)
        if len(calls) == fail_at:
            raise RuntimeError(f"{where} failed")
        return original(self, *args)

    monkeypatch.setattr(owner, name, broken)
    out = tmp_path / "clip.gif"
    with pytest.raises(RuntimeError, match=f"{where} failed"):
        animate.encode_frames(iter(clip), str(out), fps=10, quality=70, dither="ed", palette_mode="global")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    again = animate.encode_frames(iter(clip), None, fps=10, quality=70, dither="ed", palette_mode="global").gif_bytes
    assert again == clean


def test_a_short_write_queue_gives_the_same_bytes(monkeypatch):
    """WRITE_QUEUE bounds the jobs waiting on the write thread (the scan waits for the oldest beyond it): with one
    slot the file is byte for byte the same."""
    clip = wide_clip()
    want = animate.encode_frames(iter(clip), None, fps=10, quality=90, dither="ed").gif_bytes
    monkeypatch.setattr(animate, "WRITE_QUEUE", 1)
    assert animate.encode_frames(iter(clip), None, fps=10, quality=90, dither="ed").gif_bytes == want
