"""Image loading: EXIF orientation, every Pillow mode, alpha, animation, bombs and bad files."""
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

import checks  # noqa: E402
from gif_pipeline.errors import ImageLoadError
from gif_pipeline.io import gif as gif_io
from gif_pipeline.io import images as image_io

DATA = checks.FIXTURES


def rgb_blocks(h=16, w=32):
    """Four flat colour blocks: survives JPEG almost exactly and shows any flip or rotation."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (230, 20, 20)
    a[: h // 2, w // 2:] = (20, 20, 230)
    a[h // 2:, : w // 2] = (20, 230, 20)
    a[h // 2:, w // 2:] = (240, 240, 20)
    return a


def exif_with_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


# Display transform of each EXIF orientation, written independently of Pillow.
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # transposed: stored row 0 on the left, column 0 at the top
    6: lambda a: np.rot90(a, -1),  # rotate 90 clockwise: stored row 0 on the right, column 0 at the top
    7: lambda a: np.rot90(a, 1)[:, ::-1],  # transverse: stored row 0 on the right, column 0 at the bottom
    8: lambda a: np.rot90(a, 1),  # rotate 90 counter-clockwise to display
}


def assert_one_line_naming(err, path):
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ") and len(text) > len(str(path)) + 5


# ---------------------------------------------------------------------------- orientation


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    stored = rgb_blocks(16, 32)  # 16 rows, 32 columns
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, quality=95, subsampling=0, exif=exif_with_orientation(6))
    loaded = image_io.load_image(path)
    assert loaded.rgb.shape == (32, 16, 3)  # transposed
    expected = np.rot90(stored, -1)
    assert np.abs(loaded.rgb.astype(int) - expected).mean() < 4
    # A clockwise turn: stored bottom-left goes to the top-left, stored top-left to the top-right.
    np.testing.assert_allclose(loaded.rgb[2, 2], (20, 230, 20), atol=12)  # green: stored bottom-left
    np.testing.assert_allclose(loaded.rgb[2, 13], (230, 20, 20), atol=12)  # red: stored top-left
    np.testing.assert_allclose(loaded.rgb[29, 13], (20, 20, 230), atol=12)  # blue: stored top-right
    np.testing.assert_allclose(loaded.rgb[29, 2], (240, 240, 20), atol=12)  # yellow: stored bottom-right
    assert loaded.source_mode == "RGB" and loaded.alpha_mask is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_its_definition(tmp_path, orientation):
    stored = rgb_blocks(6, 10)
    stored[0, 0] = (1, 2, 3)  # a unique corner pixel
    path = tmp_path / "o.png"
    Image.fromarray(stored).save(path, exif=exif_with_orientation(orientation))
    np.testing.assert_array_equal(image_io.load_image(path).rgb, ORIENTATIONS[orientation](stored))


# ---------------------------------------------------------------------------- modes


def save(tmp_path, im, name, **kwargs):
    path = tmp_path / name
    im.save(path, **kwargs)
    return path


def test_rgb_png_is_exact_and_shipped_samples_load(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    loaded = image_io.load_image(save(tmp_path, Image.fromarray(a), "a.png"))
    np.testing.assert_array_equal(loaded.rgb, a)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.flags.c_contiguous
    for name in ("hopper_64.png", "hubble_64.png", "retina_64.png"):
        img = image_io.load_image(os.path.join(DATA, name))
        assert img.rgb.shape == (64, 64, 3) and img.rgb.std() > 5


def test_mode_1_and_L(tmp_path):
    checker = (np.indices((8, 12)).sum(0) % 2).astype(bool)
    one = Image.fromarray(checker)
    assert one.mode == "1"
    loaded = image_io.load_image(save(tmp_path, one, "one.png"))
    assert loaded.source_mode == "1"
    np.testing.assert_array_equal(loaded.rgb, np.repeat(checker[..., None] * 255, 3, 2).astype(np.uint8))

    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (3, 1))
    loaded = image_io.load_image(save(tmp_path, Image.fromarray(ramp), "grey.png"))
    assert loaded.source_mode == "L"
    np.testing.assert_array_equal(loaded.rgb, np.repeat(ramp[..., None], 3, 2))


def test_mode_LA_gives_alpha_mask_or_composites(tmp_path):
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 0] = 200
    la[..., 1] = [[0, 100, 128, 255]] * 4
    path = save(tmp_path, Image.fromarray(la, "LA"), "la.png")
    loaded = image_io.load_image(path)
    assert loaded.source_mode == "LA"
    np.testing.assert_array_equal(loaded.alpha_mask, la[..., 1] < 128)
    np.testing.assert_array_equal(loaded.alpha, la[..., 1])
    np.testing.assert_array_equal(loaded.rgb, np.full((4, 4, 3), 200, np.uint8))
    flat = image_io.load_image(path, background=(0, 0, 0))
    assert flat.alpha_mask is None
    np.testing.assert_array_equal(flat.rgb[0, :, 0], [0, 78, 100, 200])  # round(200 * a / 255)


def test_mode_P_without_and_with_transparency(tmp_path):
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [7, 8, 9]], np.uint8)
    idx = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8)
    im = Image.frombytes("P", (4, 2), idx.tobytes())
    im.putpalette(palette.tobytes())
    plain = image_io.load_image(save(tmp_path, im, "p.png"))
    assert plain.source_mode == "P" and plain.alpha_mask is None
    np.testing.assert_array_equal(plain.rgb, palette[idx])

    keyed = save(tmp_path, im, "pt.png", transparency=2)
    loaded = image_io.load_image(keyed)
    np.testing.assert_array_equal(loaded.alpha_mask, idx == 2)
    np.testing.assert_array_equal(loaded.rgb[idx != 2], palette[idx][idx != 2])
    on_white = image_io.load_image(keyed, background=(255, 255, 255))
    assert on_white.alpha_mask is None
    np.testing.assert_array_equal(on_white.rgb[idx == 2], [[255, 255, 255]] * 2)

    # A GIF from our own writer: transparency index -> alpha mask.
    gif = tmp_path / "t.gif"
    gif.write_bytes(gif_io.encode_gif(idx, palette, transparent_index=3))
    loaded = image_io.load_image(gif)
    assert loaded.source_mode == "P"
    np.testing.assert_array_equal(loaded.alpha_mask, idx == 3)
    np.testing.assert_array_equal(loaded.rgb[idx != 3], palette[idx][idx != 3])


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 32768, 65278, 65535]], np.uint16)
    expected = np.array([[0, 1, 4, 128, 254, 255]], np.uint8)  # round(v * 255 / 65535)
    im = Image.fromarray(values)
    assert im.mode == "I;16"
    loaded = image_io.load_image(save(tmp_path, im, "deep.png"))
    assert loaded.source_mode.startswith("I")
    np.testing.assert_array_equal(loaded.rgb[..., 0], expected)
    np.testing.assert_array_equal(loaded.rgb[..., 1], expected)
    # Mode I (32-bit) holding 16-bit data, as Pillow reports 16-bit TIFF/PPM data.
    i32 = image_io.load_image(save(tmp_path, Image.fromarray(values.astype(np.int32)), "deep.tif"))
    assert i32.source_mode == "I"
    np.testing.assert_array_equal(i32.rgb[..., 2], expected)
    # Genuinely 32-bit values are stretched from [min, max].
    wide = np.array([[-1000, 0, 1_000_000]], np.int32)
    stretched = image_io.load_image(save(tmp_path, Image.fromarray(wide), "wide.tif"))
    np.testing.assert_array_equal(stretched.rgb[0, :, 0], [0, 0, 255])


def test_float_mode_F(tmp_path):
    unit = np.array([[0.0, 0.5, 1.0]], np.float32)
    loaded = image_io.load_image(save(tmp_path, Image.fromarray(unit), "f.tif"))
    assert loaded.source_mode == "F"
    np.testing.assert_array_equal(loaded.rgb[0, :, 0], [0, 128, 255])
    wide = np.array([[-2.0, 2.0, 6.0]], np.float32)
    loaded = image_io.load_image(save(tmp_path, Image.fromarray(wide), "g.tif"))
    np.testing.assert_array_equal(loaded.rgb[0, :, 1], [0, 128, 255])
    bad = np.array([[0.0, np.nan]], np.float32)
    with pytest.raises(ImageLoadError, match="NaN"):
        image_io.load_image(save(tmp_path, Image.fromarray(bad), "nan.tif"))


def test_rgba_threshold_and_background(tmp_path):
    rgba = np.zeros((2, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = [0, 127, 128, 255]
    path = save(tmp_path, Image.fromarray(rgba, "RGBA"), "a.png")
    loaded = image_io.load_image(path)
    assert loaded.source_mode == "RGBA"
    np.testing.assert_array_equal(loaded.alpha_mask[0], [True, True, False, False])
    np.testing.assert_array_equal(image_io.load_image(path, alpha_threshold=1).alpha_mask[0],
                                  [True, False, False, False])
    assert image_io.load_image(path, alpha_threshold=0).alpha_mask is None  # nothing below 0
    blue_bg = image_io.load_image(path, background=(0, 0, 255))
    assert blue_bg.alpha_mask is None
    np.testing.assert_array_equal(blue_bg.rgb[0], [[0, 0, 255], [127, 0, 128], [128, 0, 127], [255, 0, 0]])
    opaque = rgba.copy()
    opaque[..., 3] = 255
    assert image_io.load_image(save(tmp_path, Image.fromarray(opaque, "RGBA"), "o.png")).alpha_mask is None


def test_rgb_and_grey_png_colour_key_transparency(tmp_path):
    rgb = rgb_blocks(4, 4)
    path = save(tmp_path, Image.fromarray(rgb), "key.png", transparency=(20, 20, 230))  # the blue block
    loaded = image_io.load_image(path)
    np.testing.assert_array_equal(loaded.alpha_mask, (rgb == (20, 20, 230)).all(axis=2))
    grey = np.array([[0, 10], [10, 200]], np.uint8)
    loaded = image_io.load_image(save(tmp_path, Image.fromarray(grey), "gkey.png", transparency=10))
    np.testing.assert_array_equal(loaded.alpha_mask, grey == 10)


def test_cmyk_and_ycbcr(tmp_path):
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 0, 255]]], np.uint8)
    for name in ("c.tif", "c.jpg"):
        loaded = image_io.load_image(save(tmp_path, Image.fromarray(cmyk, "CMYK"), name, **(
            {"quality": 100} if name.endswith("jpg") else {})))
        assert loaded.source_mode == "CMYK" and loaded.rgb.shape == (1, 4, 3)
        expected = [[255, 255, 255], [0, 255, 255], [255, 0, 255], [0, 0, 0]]  # white, cyan, magenta, black
        tol = 0 if name.endswith("tif") else 40
        np.testing.assert_allclose(loaded.rgb[0].astype(int), expected, atol=tol, err_msg=name)

    rgb = rgb_blocks(8, 8)
    ycc = Image.fromarray(rgb).convert("YCbCr")
    loaded = image_io.load_image(save(tmp_path, ycc, "y.tif"))
    assert loaded.source_mode == "YCbCr"
    assert np.abs(loaded.rgb.astype(int) - rgb).max() <= 3


def test_in_memory_images_of_other_modes():
    rgb = rgb_blocks(4, 4)
    for mode in ("RGBX", "HSV", "RGBa", "PA", "La"):
        im = Image.fromarray(rgb).convert("RGBA").convert(mode) if mode != "La" else \
            Image.fromarray(rgb).convert("LA").convert("La")
        loaded = image_io.load_image_array(im)
        assert loaded.source_mode == mode and loaded.rgb.shape == (4, 4, 3) and loaded.rgb.dtype == np.uint8
        if mode in ("RGBX", "RGBa", "PA"):
            np.testing.assert_array_equal(loaded.rgb, rgb, err_msg=mode)
        if mode == "HSV":
            assert np.abs(loaded.rgb.astype(int) - rgb).max() <= 3


def test_load_image_array_from_numpy():
    rgb = rgb_blocks(4, 6)
    np.testing.assert_array_equal(image_io.load_image_array(rgb).rgb, rgb)
    np.testing.assert_array_equal(image_io.load_image_array(rgb.astype(np.uint16) * 257).rgb, rgb)
    np.testing.assert_array_equal(image_io.load_image_array(rgb / 255.0).rgb, rgb)
    np.testing.assert_array_equal(image_io.load_image_array(rgb[..., 0]).rgb, np.repeat(rgb[..., :1], 3, 2))
    mask = image_io.load_image_array(np.eye(4, dtype=bool)).rgb
    np.testing.assert_array_equal(mask[..., 0], np.eye(4) * 255)
    rgba = np.concatenate([rgb, np.full((4, 6, 1), 50, np.uint8)], axis=2)
    assert image_io.load_image_array(rgba).alpha_mask.all()
    with pytest.raises(ValueError, match="dtype"):
        image_io.load_image_array(rgb.astype(np.int64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        image_io.load_image_array(rgb.astype(np.float32))  # 0..255 floats are ambiguous
    with pytest.raises(ValueError, match="shape"):
        image_io.load_image_array(np.zeros((4, 4, 5), np.uint8))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha_threshold=300), "alpha_threshold"),
        (dict(alpha_threshold=-1), "alpha_threshold"),
        (dict(background=(0, 0)), "background"),
        (dict(background=(0, 0, 256)), "background"),
        (dict(background=(0.5, 0, 0)), "background"),
        (dict(max_pixels=0), "max_pixels"),
    ],
)
def test_bad_options_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_io.load_image(os.path.join(DATA, "hopper_64.png"), **kwargs)


# ---------------------------------------------------------------------------- animation


def test_animated_gif_first_frame_and_all_frames(tmp_path):
    rng = np.random.default_rng(3)
    frames = []
    for k in (4, 9, 2):
        pal = rng.integers(0, 256, (k, 3), dtype=np.uint8)
        frames.append((rng.integers(0, k, (10, 12), dtype=np.uint8), pal))
    path = tmp_path / "anim.gif"
    path.write_bytes(gif_io.encode_animation(frames, [40, 80, 120], loop=2))
    first = image_io.load_image(path)
    np.testing.assert_array_equal(first.rgb, frames[0][1][frames[0][0]])
    loaded = image_io.load_frames(path)
    assert loaded.durations_ms == [40, 80, 120] and loaded.loop == 2
    assert len(loaded.frames) == 3
    for (idx, pal), frame in zip(frames, loaded.frames):
        np.testing.assert_array_equal(frame.rgb, pal[idx])
    with pytest.raises(ImageLoadError, match="3 frames.*--max-pixels"):
        image_io.load_frames(path, max_pixels=10 * 12 * 2)


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("WEBP", "webp")])
def test_animated_png_and_webp_frames(tmp_path, fmt, ext):
    pics = [rgb_blocks(8, 8), rgb_blocks(8, 8)[::-1].copy(), rgb_blocks(8, 8)[:, ::-1].copy()]
    ims = [Image.fromarray(p) for p in pics]
    path = tmp_path / f"anim.{ext}"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    ims[0].save(path, format=fmt, save_all=True, append_images=ims[1:], duration=[50, 60, 70], loop=0, **extra)
    loaded = image_io.load_frames(path)
    assert loaded.durations_ms == [50, 60, 70] and loaded.loop == 0
    for pic, frame in zip(pics, loaded.frames):
        np.testing.assert_array_equal(frame.rgb, pic)
    np.testing.assert_array_equal(image_io.load_image(path).rgb, pics[0])


def test_still_image_is_one_frame():
    loaded = image_io.load_frames(os.path.join(DATA, "hopper_64.png"))
    assert len(loaded.frames) == 1 and loaded.durations_ms == [0] and loaded.loop is None


# ---------------------------------------------------------------------------- bad files


def noise_file(tmp_path, name, fmt, **kwargs):
    rng = np.random.default_rng(1)
    im = Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    path = tmp_path / name
    im.save(path, format=fmt, **kwargs)
    return path


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp")])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_files_are_refused(tmp_path, fmt, ext, keep):
    full = noise_file(tmp_path, f"full.{ext}", fmt)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageLoadError) as err:
        image_io.load_image(cut)
    assert_one_line_naming(err, cut)
    assert image_io.load_image(full).rgb.shape == (48, 48, 3)


def test_jpeg_missing_only_its_end_marker_is_refused(tmp_path):
    full = noise_file(tmp_path, "full.jpg", "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[:-2])
    with pytest.raises(ImageLoadError, match="truncated"):
        image_io.load_image(cut)


def test_truncated_files_are_refused_even_if_someone_enabled_load_truncated_images(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    full = noise_file(tmp_path, "full.png", "PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        image_io.load_image(cut)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_loading_never_enables_load_truncated_images():
    image_io.load_image(os.path.join(DATA, "hopper_64.png"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("random.png", np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(), "not an image"),
        ("notes.txt", b"just some text\n", "not an image"),
        ("notes.jpg", b"just some text with an image extension\n", "not an image"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "not an image|corrupt|truncated"),
        ("empty.png", b"", "empty"),
        ("script.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),
    ],
)
def test_non_images_are_refused_with_one_line(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as err:
        image_io.load_image(path)
    assert_one_line_naming(err, path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found") as err:
        image_io.load_image(tmp_path / "nope.png")
    assert_one_line_naming(err, tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="directory") as err:
        image_io.load_image(tmp_path)
    assert_one_line_naming(err, tmp_path)
    with pytest.raises(ImageLoadError, match="file not found"):
        image_io.load_image(os.path.join(DATA, "hopper_64.png", "inside"))


def test_bytes_and_file_objects_are_accepted():
    path = os.path.join(DATA, "hopper_64.png")
    expected = image_io.load_image(path).rgb
    with open(path, "rb") as f:
        data = f.read()
    np.testing.assert_array_equal(image_io.load_image(data).rgb, expected)
    np.testing.assert_array_equal(image_io.load_image(io.BytesIO(data)).rgb, expected)
    with pytest.raises(ImageLoadError, match="<image bytes>: empty"):
        image_io.load_image(b"")


# ---------------------------------------------------------------------------- decompression bombs


def png_claiming_size(width, height):
    """A PNG whose header claims width x height but that carries almost no pixel data."""
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming_size(9000, 9000))  # 81 Mpx: over our default, under Pillow's own limit
    with pytest.raises(ImageLoadError, match=r"9000x9000 = 81,000,000 pixels.*--max-pixels") as err:
        image_io.load_image(path)
    assert_one_line_naming(err, path)  # refused by size, not as a truncated file: nothing was decoded
    with pytest.raises(ImageLoadError, match="truncated"):  # with the limit raised, decoding starts
        image_io.load_image(path, max_pixels=100_000_000)


def test_tiny_pixel_limit(tmp_path):
    path = os.path.join(DATA, "hopper_64.png")
    with pytest.raises(ImageLoadError, match=r"64x64 = 4,096 pixels, over the limit of 4,095.*--max-pixels"):
        image_io.load_image(path, max_pixels=4095)
    assert image_io.load_image(path, max_pixels=4096).rgb.shape == (64, 64, 3)
    assert image_io.load_image(path, max_pixels=None).rgb.shape == (64, 64, 3)


def test_pillow_bomb_warning_and_error_become_image_load_errors(tmp_path, monkeypatch):
    path = save(tmp_path, Image.new("RGB", (40, 40)), "big.png")  # 1600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow warns above 1000, fails above 2000
    with pytest.raises(ImageLoadError, match="too large.*--max-pixels") as err:
        image_io.load_image(path, max_pixels=500)
    assert_one_line_naming(err, path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700)
    with pytest.raises(ImageLoadError, match="too large.*--max-pixels"):
        image_io.load_image(path, max_pixels=500)
    # A user limit above Pillow's is honoured: --max-pixels really raises the limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert image_io.load_image(path, max_pixels=5000).rgb.shape == (40, 40, 3)
