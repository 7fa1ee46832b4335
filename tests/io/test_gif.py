"""GIF I/O: exact round trips through Pillow, TensorFlow and ffmpeg; animation; safe writes."""
import io
import os
import stat
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from gif_pipeline.errors import GifnetsError, ImageLoadError, OutputExistsError
from gif_pipeline.io import gif as gif_io

PALETTE_SIZES = [1, 2, 3, 5, 17, 200, 256]


def random_image(k, shape=(23, 37), seed=0):
    """Random palette of k colours and random indices that use every index 0..k-1."""
    rng = np.random.default_rng(seed + k)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    indices = rng.integers(0, k, shape, dtype=np.uint8)
    indices.flat[:k] = np.arange(k, dtype=np.uint8)  # every colour appears, including the last one
    return indices, palette


def structured_images():
    """Constant, horizontal ramp and checkerboard index maps (LZW edge cases)."""
    pal = np.stack([np.arange(256), 255 - np.arange(256), (np.arange(256) * 7) % 256], 1).astype(np.uint8)
    yield np.zeros((16, 16), np.uint8), pal[:1]
    yield np.tile(np.arange(64, dtype=np.uint8), (48, 1)), pal[:64]
    yield ((np.indices((40, 64)).sum(0) % 2) * 2).astype(np.uint8), pal[:3]
    yield np.tile(np.arange(256, dtype=np.uint8), (3, 1)), pal
    yield np.full((1, 1), 4, np.uint8), pal[:5]


def ffmpeg_decode(path, height, width, pix_fmt="rgb24"):
    """All frames of a file decoded by the ffmpeg binary of the imageio-ffmpeg wheel."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-fps_mode", "passthrough",
           "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    r = subprocess.run(cmd, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    channels = {"rgb24": 3, "rgba": 4}[pix_fmt]
    return np.frombuffer(r.stdout, np.uint8).reshape(-1, height, width, channels)


def tf_decode(data):
    import tensorflow as tf

    return tf.io.decode_gif(data).numpy()


def pillow_palette(im, n):
    return np.asarray(im.getpalette("RGB"), np.uint8).reshape(-1, 3)[:n]


# ---------------------------------------------------------------------------- still images


@pytest.mark.parametrize("k", PALETTE_SIZES)
def test_round_trip_is_exact_with_pillow_and_own_decoder(k):
    indices, palette = random_image(k)
    data = gif_io.encode_gif(indices, palette)
    assert data[:6] == b"GIF89a" and data[-1:] == b";"
    padded = gif_io.padded_palette_size(k)
    assert padded >= max(k, 2) and padded & (padded - 1) == 0 and padded < 2 * max(k, 2)
    # Logical screen descriptor: global colour table of exactly `padded` entries.
    assert data[10] & 0x80 and 2 << (data[10] & 7) == padded

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "GIF" and im.mode == "P" and im.size == (37, 23)
        np.testing.assert_array_equal(np.asarray(im), indices)
        np.testing.assert_array_equal(pillow_palette(im, k), palette)

    (frame,) = gif_io.decode_gif(data)
    np.testing.assert_array_equal(frame.indices, indices)
    assert frame.indices.dtype == np.uint8 and frame.palette.dtype == np.uint8
    assert frame.palette.shape == (padded, 3)
    np.testing.assert_array_equal(frame.palette[:k], palette)
    assert not frame.palette[k:].any()  # padding is black
    assert frame.transparent_index is None and (frame.left, frame.top) == (0, 0)


def test_round_trip_is_exact_with_tensorflow():
    for k in PALETTE_SIZES:
        indices, palette = random_image(k, shape=(19, 26))
        decoded = tf_decode(gif_io.encode_gif(indices, palette))
        assert decoded.shape == (1, 19, 26, 3), k
        np.testing.assert_array_equal(decoded[0], palette[indices], err_msg=f"K={k}")
    for indices, palette in structured_images():
        np.testing.assert_array_equal(tf_decode(gif_io.encode_gif(indices, palette))[0], palette[indices])


def test_round_trip_is_exact_with_ffmpeg(tmp_path):
    cases = [random_image(k, shape=(21, 30)) for k in PALETTE_SIZES] + list(structured_images())
    for n, (indices, palette) in enumerate(cases):
        path = tmp_path / f"{n}.gif"
        path.write_bytes(gif_io.encode_gif(indices, palette))
        decoded = ffmpeg_decode(path, *indices.shape)
        assert decoded.shape[0] == 1
        np.testing.assert_array_equal(decoded[0], palette[indices], err_msg=f"case {n}, K={len(palette)}")


def test_structured_images_round_trip_with_pillow_and_own_decoder():
    for indices, palette in structured_images():
        data = gif_io.encode_gif(indices, palette)
        frame = gif_io.decode_gif(data)[0]
        np.testing.assert_array_equal(frame.indices, indices)
        np.testing.assert_array_equal(frame.palette[: len(palette)], palette)
        with Image.open(io.BytesIO(data)) as im:
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), palette[indices])
        np.testing.assert_array_equal(gif_io.decode_gif_rgb(data), palette[indices])


def test_unused_and_duplicate_palette_entries_are_kept_in_place():
    # Pillow's optimiser would drop unused entries and renumber; entries 0 and 2 are also equal.
    palette = np.array([[9, 9, 9], [200, 0, 0], [9, 9, 9], [0, 0, 0], [1, 2, 3]], np.uint8)
    indices = np.array([[4, 2, 4], [2, 2, 4]], np.uint8)
    frame = gif_io.decode_gif(gif_io.encode_gif(indices, palette))[0]
    np.testing.assert_array_equal(frame.indices, indices)
    np.testing.assert_array_equal(frame.palette[:5], palette)


def test_int32_indices_from_hard_projection_are_accepted():
    indices, palette = random_image(17)
    a = gif_io.encode_gif(indices.astype(np.int32), palette.astype(np.int64))
    assert a == gif_io.encode_gif(indices, palette)


def test_transparent_index_survives_and_decoders_treat_it_as_transparent(tmp_path):
    indices, palette = random_image(6, shape=(20, 24))
    indices[:5, :7] = 5
    data = gif_io.encode_gif(indices, palette, transparent_index=5)
    assert data[:6] == b"GIF89a"
    frame = gif_io.decode_gif(data)[0]
    assert frame.transparent_index == 5
    np.testing.assert_array_equal(frame.indices, indices)
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["transparency"] == 5
        alpha = np.asarray(im.convert("RGBA"))[..., 3]
    np.testing.assert_array_equal(alpha == 0, indices == 5)
    path = tmp_path / "t.gif"
    path.write_bytes(data)
    rgba = ffmpeg_decode(path, 20, 24, "rgba")[0]
    np.testing.assert_array_equal(rgba[..., 3] == 0, indices == 5)
    opaque = indices != 5
    np.testing.assert_array_equal(rgba[..., :3][opaque], palette[indices][opaque])
    np.testing.assert_array_equal(tf_decode(data)[0][opaque], palette[indices][opaque])
    assert gif_io.decode_gif(gif_io.encode_gif(indices, palette))[0].transparent_index is None


def test_comment_is_stored_even_when_longer_than_one_sub_block():
    indices, palette = random_image(4)
    text = "made by gifnets: " + "é" * 300
    data = gif_io.encode_gif(indices, palette, comment=text)
    assert gif_io.read_gif_info(data).comment == text.encode("utf-8")
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["comment"] == text.encode("utf-8")
        np.testing.assert_array_equal(np.asarray(im), indices)
    assert gif_io.read_gif_info(gif_io.encode_gif(indices, palette)).comment is None


def test_decode_from_path_and_rgb_helper(tmp_path):
    indices, palette = random_image(17)
    path = tmp_path / "x.gif"
    path.write_bytes(gif_io.encode_gif(indices, palette))
    np.testing.assert_array_equal(gif_io.decode_gif(str(path))[0].indices, indices)
    rgb = gif_io.decode_gif_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (23, 37, 3)
    np.testing.assert_array_equal(rgb, palette[indices])


@pytest.mark.parametrize(
    "indices, palette, transparent, match",
    [
        (np.zeros((4, 4), np.float32), np.zeros((2, 3), np.uint8), None, "integer"),
        (np.zeros((4, 4), bool), np.zeros((2, 3), np.uint8), None, "integer"),
        (np.full((4, 4), 2, np.uint8), np.zeros((2, 3), np.uint8), None, r"0\.\.1"),
        (np.full((4, 4), -1, np.int32), np.zeros((2, 3), np.uint8), None, r"0\.\.1"),
        (np.zeros((4, 4, 1), np.uint8), np.zeros((2, 3), np.uint8), None, r"\[H, W\]"),
        (np.zeros((0, 4), np.uint8), np.zeros((2, 3), np.uint8), None, "pixels"),
        (np.zeros((4, 4), np.uint8), np.zeros((2, 4), np.uint8), None, r"\[K, 3\]"),
        (np.zeros((4, 4), np.uint8), np.zeros((0, 3), np.uint8), None, "1..256"),
        (np.zeros((4, 4), np.uint8), np.zeros((257, 3), np.uint8), None, "1..256"),
        (np.zeros((4, 4), np.uint8), np.full((2, 3), 300, np.int16), None, "0..255"),
        (np.zeros((4, 4), np.uint8), np.zeros((2, 3), np.float32), None, "integer"),
        (np.zeros((4, 4), np.uint8), np.zeros((2, 3), np.uint8), 2, "transparent_index"),
        (np.zeros((4, 4), np.uint8), np.zeros((2, 3), np.uint8), 1.0, "transparent_index"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_error(indices, palette, transparent, match):
    with pytest.raises(ValueError, match=match):
        gif_io.encode_gif(indices, palette, transparent_index=transparent)


# ---------------------------------------------------------------------------- animation


def three_frames():
    return [random_image(5, (18, 22), seed=1), random_image(17, (18, 22), seed=2), random_image(2, (18, 22), seed=3)]


def test_animation_round_trips_frames_palettes_durations_and_loop(tmp_path):
    frames = three_frames()
    data = gif_io.encode_animation(frames, [100, 250, 30], loop=3)
    assert data[:6] == b"GIF89a"
    info = gif_io.read_gif_info(data)
    assert (info.n_frames, info.loop, info.width, info.height) == (3, 3, 22, 18)

    decoded = gif_io.decode_gif(data)
    assert [f.duration_ms for f in decoded] == [100, 250, 30]
    for (indices, palette), f in zip(frames, decoded):
        np.testing.assert_array_equal(f.indices, indices)
        np.testing.assert_array_equal(f.palette[: len(palette)], palette)
        assert f.transparent_index is None and (f.left, f.top) == (0, 0)

    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 3 and im.info["loop"] == 3
        for n, (indices, palette) in enumerate(frames):
            im.seek(n)
            assert im.info["duration"] == [100, 250, 30][n]
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), palette[indices])
        im.seek(0)
        np.testing.assert_array_equal(np.asarray(im), frames[0][0])  # first frame keeps raw indices

    tf_frames = tf_decode(data)
    path = tmp_path / "anim.gif"
    path.write_bytes(data)
    ff_frames = ffmpeg_decode(path, 18, 22)
    assert tf_frames.shape == ff_frames.shape == (3, 18, 22, 3)
    for n, (indices, palette) in enumerate(frames):
        np.testing.assert_array_equal(tf_frames[n], palette[indices], err_msg=f"TF frame {n}")
        np.testing.assert_array_equal(ff_frames[n], palette[indices], err_msg=f"ffmpeg frame {n}")


def test_identical_and_nearly_identical_frames_are_neither_merged_nor_cropped():
    a = random_image(8, (16, 20), seed=5)
    b = (a[0].copy(), a[1])
    b[0][3, 4] = (b[0][3, 4] + 1) % 8  # one pixel differs: Pillow's writer would crop to it
    data = gif_io.encode_animation([a, a, b, a], 50)
    decoded = gif_io.decode_gif(data)
    assert len(decoded) == 4 and [f.duration_ms for f in decoded] == [50] * 4
    for (indices, _), f in zip([a, a, b, a], decoded):
        assert f.indices.shape == (16, 20) and (f.left, f.top) == (0, 0)
        np.testing.assert_array_equal(f.indices, indices)
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 4


def test_shared_palette_is_written_once_and_local_tables_only_when_needed():
    shared = random_image(16, (8, 8), seed=7)
    other = random_image(16, (8, 8), seed=8)
    one_table = gif_io.encode_animation([shared, (shared[0][::-1].copy(), shared[1])], 40)
    two_tables = gif_io.encode_animation([shared, other], 40)
    assert len(two_tables) - len(one_table) >= 16 * 3 - 8  # the second one carries a 16-entry local table
    for data, frames in ((one_table, [shared, (shared[0][::-1], shared[1])]), (two_tables, [shared, other])):
        for (indices, palette), f in zip(frames, gif_io.decode_gif(data)):
            np.testing.assert_array_equal(f.indices, indices)
            np.testing.assert_array_equal(f.palette[:16], palette)


def test_loop_and_duration_options():
    frames = three_frames()
    forever = gif_io.encode_animation(frames, 70)
    assert gif_io.read_gif_info(forever).loop == 0
    assert [f.duration_ms for f in gif_io.decode_gif(forever)] == [70, 70, 70]
    once = gif_io.encode_animation(frames, (20, 30, 40), loop=None)
    assert gif_io.read_gif_info(once).loop is None
    with Image.open(io.BytesIO(once)) as im:
        assert "loop" not in im.info
    # GIF stores hundredths of a second: durations round to the nearest 10 ms.
    rounded = gif_io.encode_animation(frames, [33, 35, 1004], loop=1)
    assert [f.duration_ms for f in gif_io.decode_gif(rounded)] == [30, 40, 1000]


def test_animation_with_transparency_uses_restore_to_background(tmp_path):
    frames = three_frames()
    for indices, _ in frames:
        indices[:4, :4] = 1
    data = gif_io.encode_animation(frames, 100, transparent_index=1)
    decoded = gif_io.decode_gif(data)
    assert [f.transparent_index for f in decoded] == [1, 1, 1]
    assert [f.disposal for f in decoded] == [gif_io.DISPOSE_BACKGROUND] * 3
    path = tmp_path / "t.gif"
    path.write_bytes(data)
    rgba = ffmpeg_decode(path, 18, 22, "rgba")
    for n, (indices, palette) in enumerate(frames):
        np.testing.assert_array_equal(rgba[n, ..., 3] == 0, indices == 1, err_msg=f"frame {n}")
        opaque = indices != 1
        np.testing.assert_array_equal(rgba[n, ..., :3][opaque], palette[indices][opaque])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(frames=[]), "at least one frame"),
        (dict(durations_ms=[10, 20]), "2 durations for 3 frames"),
        (dict(durations_ms=-10), "durations"),
        (dict(durations_ms="fast"), "durations"),
        (dict(loop=-1), "loop"),
        (dict(loop=70000), "loop"),
        (dict(transparent_index=3), "transparent_index"),  # frame 2 has only 2 colours
    ],
)
def test_bad_animation_arguments_are_refused(kwargs, match):
    args = dict(frames=three_frames(), durations_ms=100)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gif_io.encode_animation(**args)


def test_animation_frames_must_share_a_size():
    frames = [random_image(4, (8, 8)), random_image(4, (8, 9))]
    with pytest.raises(ValueError, match="frame 1 has shape"):
        gif_io.encode_animation(frames, 100)
    with pytest.raises(ValueError, match="pair"):
        gif_io.encode_animation([np.zeros((4, 4), np.uint8)], 100)


def test_decoding_gifs_from_other_writers_interlaced_and_cropped_frames():
    # Pillow's own writer interlaces by default and crops later frames to the changed rectangle.
    indices, palette = random_image(16, (32, 40), seed=11)
    im = Image.frombytes("P", (40, 32), indices.tobytes())
    im.putpalette(palette.tobytes())
    buf = io.BytesIO()
    im.save(buf, "GIF", interlace=True, optimize=False)
    assert gif_io._parse_gif(buf.getvalue(), "test").frames[0].interlaced
    np.testing.assert_array_equal(gif_io.decode_gif(buf.getvalue())[0].indices, indices)

    second = indices.copy()
    second[10:14, 20:25] = (second[10:14, 20:25] + 1) % 16
    im2 = Image.frombytes("P", (40, 32), second.tobytes())
    im2.putpalette(palette.tobytes())
    buf = io.BytesIO()
    im.save(buf, "GIF", save_all=True, append_images=[im2], optimize=False, duration=100)
    frames = gif_io.decode_gif(buf.getvalue())
    assert len(frames) == 2 and frames[0].indices.shape == (32, 40)
    f = frames[1]
    top, left, (h, w) = f.top, f.left, f.indices.shape
    assert (top, left) == (10, 20) and (h, w) == (4, 5)
    np.testing.assert_array_equal(f.indices, second[10:14, 20:25])
    np.testing.assert_array_equal(gif_io.decode_gif_rgb(buf.getvalue()), palette[indices])


# ---------------------------------------------------------------------------- corrupt files


def test_corrupt_truncated_and_missing_gifs_raise_image_load_error(tmp_path):
    indices, palette = random_image(200, (40, 40))
    data = gif_io.encode_gif(indices, palette)
    with pytest.raises(ImageLoadError, match="not a GIF"):
        gif_io.decode_gif(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(ImageLoadError, match="truncated"):
        gif_io.decode_gif(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="unknown block"):
        gif_io.decode_gif(data[:13 + 768] + b"\x99" + data[13 + 768:])
    with pytest.raises(ImageLoadError, match="no image"):
        gif_io.decode_gif(data[:13 + 768] + b";")
    missing = tmp_path / "missing.gif"
    with pytest.raises(ImageLoadError, match="missing.gif: file not found"):
        gif_io.decode_gif(missing)
    with pytest.raises(ImageLoadError, match="directory"):
        gif_io.decode_gif(tmp_path)


# ---------------------------------------------------------------------------- atomic_write


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_creates_refuses_and_overwrites_with_force(tmp_path):
    out = tmp_path / "out.gif"
    gif_io.atomic_write(out, b"first")
    assert out.read_bytes() == b"first"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # a normal file, not mkstemp's 0600
    with pytest.raises(OutputExistsError, match="already exists.*--force"):
        gif_io.atomic_write(out, b"second")
    assert out.read_bytes() == b"first"
    gif_io.atomic_write(str(out), b"second", force=True)
    assert out.read_bytes() == b"second"
    assert listing(tmp_path) == ["out.gif"]


def test_atomic_write_never_overwrites_an_input_even_with_force(tmp_path):
    src = tmp_path / "photo.gif"
    src.write_bytes(b"precious")
    os.symlink(src, tmp_path / "alias.gif")
    os.link(src, tmp_path / "hardlink.gif")
    spellings = [src, str(src), os.path.join(str(tmp_path), ".", "photo.gif"), tmp_path / "alias.gif",
                 tmp_path / "hardlink.gif"]
    for target in spellings:
        for force in (False, True):
            with pytest.raises(OutputExistsError, match="input"):
                gif_io.atomic_write(target, b"overwritten", force=force, protect=[str(src)])
    assert src.read_bytes() == b"precious"
    # Protecting other files does not block a legitimate write.
    gif_io.atomic_write(tmp_path / "new.gif", b"ok", protect=[str(src), tmp_path / "absent.png"])
    assert listing(tmp_path) == ["alias.gif", "hardlink.gif", "new.gif", "photo.gif"]


def test_atomic_write_errors_leave_no_temp_files(tmp_path):
    with pytest.raises(GifnetsError, match="does not exist"):
        gif_io.atomic_write(tmp_path / "no" / "such" / "dir" / "x.gif", b"data")
    (tmp_path / "folder.gif").mkdir()
    with pytest.raises(OutputExistsError, match="directory"):
        gif_io.atomic_write(tmp_path / "folder.gif", b"data", force=True)
    with pytest.raises(TypeError):  # the write itself fails half-way: the temp file must go
        gif_io.atomic_write(tmp_path / "x.gif", "text is not bytes")
    assert listing(tmp_path) == ["folder.gif"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_atomic_write_reports_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(GifnetsError, match="cannot write"):
            gif_io.atomic_write(ro / "x.gif", b"data")
    finally:
        ro.chmod(0o700)
    assert listing(ro) == []
