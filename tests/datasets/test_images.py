"""The tf.data input pipeline (issue #5): sources, split, preprocessing, augmentation, determinism."""
import logging as pylogging
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import checks  # noqa: E402
from gif_pipeline.data import images as data
from gif_pipeline.errors import GifnetsError, OutputExistsError

DATA = checks.FIXTURES
SIZE = 32


def save(path, array, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def colourful(h, w, seed):
    """Smooth saturated colour fields (hue/saturation ops visibly change them)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 2 * np.pi, 3)
    rgb = [0.5 + 0.45 * np.sin(6 * xx + 4 * yy + p) for p in phase]
    return (np.stack(rgb, -1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Six images of different sizes and formats: the 64x64 test crops plus random colour fields."""
    root = tmp_path_factory.mktemp("images")
    for name in ("hopper_64.png", "hubble_64.png", "retina_64.png"):
        shutil.copy(os.path.join(DATA, name), root / name)
    save(str(root / "sub" / "wide.png"), colourful(40, 70, 1))
    save(str(root / "sub" / "deeper" / "tall.JPG"), colourful(90, 48, 2), quality=95)
    save(str(root / "sub" / "square.webp"), colourful(50, 50, 3), lossless=True)
    return str(root)


def batches(ds, n):
    return [b.numpy() for b in ds.take(n)]


def cfg(**kw):
    base = dict(image_size=SIZE, batch_size=2, seed=7, shuffle_buffer=16)
    base.update(kw)
    return data.DataConfig(**base)


NO_AUG = dict(random_noise=False, random_hue=False, random_contrast=False, random_saturation=False,
              dither_random_hue=False, flip_left_right=False, flip_up_down=False)


# ------------------------------------------------------------------------------ shapes and range


@pytest.mark.parametrize("augment", [None, "palette", "dither", "flip"])
def test_batches_have_shape_dtype_and_range(folder, augment):
    ds = data.build_dataset(folder, cfg(batch_size=3), "train", augment)
    assert ds.element_spec.shape.as_list() == [3, SIZE, SIZE, 3]
    for b in batches(ds, 3):
        assert b.shape == (3, SIZE, SIZE, 3) and b.dtype == np.float32
        assert b.min() >= -1.0 and b.max() <= 1.0
        assert b.std() > 0.05  # real image content, not a constant


def test_unaugmented_values_are_pixels_over_127_5_minus_1(tmp_path):
    img = colourful(SIZE, SIZE, 5)
    save(str(tmp_path / "a.png"), img)
    (out,) = batches(data.build_dataset(str(tmp_path), cfg(batch_size=1), "all"), 1)
    np.testing.assert_allclose(out[0], img / 127.5 - 1.0, atol=1e-6)


# ---------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_batches_and_another_seed_differs(folder):
    def run(seed, n=4, **kw):
        return np.stack(batches(data.build_dataset(folder, cfg(seed=seed, **kw), "all", "palette",
                                                   repeat=True, shuffle=True, random_crop=True), n))

    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    # The cached pipeline is deterministic too.
    np.testing.assert_array_equal(run(3, 2, cache=True), run(3, 2, cache=True))


def test_file_cache_gives_the_same_images(folder, tmp_path):
    plain = batches(data.build_dataset(folder, cfg(), "val"), 3)
    prefix = str(tmp_path / "cache")
    for _ in range(2):  # the second run reads the cache files written by the first
        cached = batches(data.build_dataset(folder, cfg(cache=prefix), "val"), 3)
        np.testing.assert_array_equal(np.concatenate(cached), np.concatenate(plain))
    assert any(name.startswith(f"cache.val.{SIZE}") for name in os.listdir(tmp_path))


def test_epochs_are_reshuffled_and_reaugmented(folder):
    # 6 images, batch 2 -> 3 batches per epoch; the second epoch must not replay the first.
    out = batches(data.build_dataset(folder, cfg(), "all", "palette", repeat=True, shuffle=True), 6)
    first, second = np.concatenate(out[:3]), np.concatenate(out[3:])
    assert not np.allclose(first, second)


# ------------------------------------------------------------------------------------------ split


NAMES = [f"{i:06d}.jpg" for i in range(1, 51)]


def test_split_is_stable_disjoint_and_about_80_20(tmp_path):
    val = data.is_validation(NAMES)
    np.testing.assert_array_equal(val, data.is_validation(list(reversed(NAMES)))[::-1])  # order-free
    # Only the base name counts, so a file keeps its split wherever the data set lives.
    np.testing.assert_array_equal(val, data.is_validation(["/a/b/" + n for n in NAMES]))
    train_files = data.split_files(NAMES, "train")
    val_files = data.split_files(NAMES, "val")
    assert not set(train_files) & set(val_files)
    assert sorted(train_files + val_files) == sorted(NAMES)
    assert 4 <= len(val_files) <= 16, len(val_files)
    # FarmHash Fingerprint64 is stable across machines: pin a few assignments.
    assert list(data.is_validation(["hopper.jpg", "hubble.jpg", "retina.jpg"])) == [False, True, False]
    assert list(data.is_validation(["hopper.jpg", "hubble.jpg"], val_fraction=0.5)) == [True, True]


def test_build_dataset_uses_the_split(tmp_path):
    for i, name in enumerate(NAMES[:12]):
        save(str(tmp_path / name.replace(".jpg", ".png")), np.full((SIZE, SIZE, 3), 10 * i, np.uint8))
    files = data.list_image_files([str(tmp_path)])
    val = data.is_validation(files)

    def values(split):
        ds = data.build_dataset(str(tmp_path), cfg(), split, repeat=False, batch=False)
        return sorted(int(round((x[0, 0, 0] + 1) * 127.5)) for x in ds.as_numpy_iterator())

    expected_val = sorted(10 * i for i, v in enumerate(val) if v)
    assert values("val") == expected_val
    assert sorted(values("train") + values("val")) == [10 * i for i in range(12)]


def test_tiny_set_falls_back_to_all_images_for_an_empty_split(tmp_path, caplog):
    assert data.is_validation(["hubble.jpg"])[0]
    save(str(tmp_path / "hubble.jpg"), colourful(SIZE, SIZE, 1))  # a val name: train would be empty
    with caplog.at_level(pylogging.WARNING, logger="absl"):
        ds = data.build_dataset(str(tmp_path), cfg(batch_size=1), "train", repeat=False)
        assert len(batches(ds, 5)) == 1
    assert "empty" in caplog.text


def test_default_sources_are_the_embedded_samples_and_both_splits_are_non_empty(caplog):
    with caplog.at_level(pylogging.INFO, logger="absl"):
        paths = data.default_sources()
    assert sorted(os.path.basename(p) for p in paths) == ["hopper.jpg", "hubble.jpg", "retina.jpg"]
    assert "sample images embedded in the package" in caplog.text
    for split in ("train", "val"):
        ds = data.build_dataset(None, cfg(batch_size=1), split, repeat=False)
        assert len(batches(ds, 5)) >= 1


# ---------------------------------------------------------------------------------- preprocessing


def test_evaluation_crop_is_centred(tmp_path):
    # 32 x 64: column c holds value 3c, row r holds 7r -> the crop shows which window was taken.
    rows, cols = np.mgrid[0:SIZE, 0:2 * SIZE]
    wide = np.stack([3 * cols, 7 * rows, np.zeros_like(rows)], -1).astype(np.uint8)
    save(str(tmp_path / "wide" / "w.png"), wide)
    save(str(tmp_path / "tall" / "t.png"), np.ascontiguousarray(wide.transpose(1, 0, 2)))
    (w,) = batches(data.build_dataset(str(tmp_path / "wide"), cfg(batch_size=1), "val"), 1)
    np.testing.assert_allclose(w[0], wide[:, 16:48] / 127.5 - 1, atol=1e-6)
    (t,) = batches(data.build_dataset(str(tmp_path / "tall"), cfg(batch_size=1), "val"), 1)
    np.testing.assert_allclose(t[0], wide.transpose(1, 0, 2)[16:48] / 127.5 - 1, atol=1e-6)


def test_resize_keeps_aspect_ratio_before_the_crop(tmp_path):
    # 64 x 160 (short side 64): left 2/5 black, right 3/5 white. Resized to 32 x 80, the centre
    # 32 x 32 crop (columns 24..55 of 80) has its black/white boundary at column 32 - 24 = 8.
    img = np.zeros((64, 160, 3), np.uint8)
    img[:, 64:] = 255
    save(str(tmp_path / "a.png"), img)
    (out,) = batches(data.build_dataset(str(tmp_path), cfg(batch_size=1), "all"), 1)
    row = out[0, 16, :, 0]
    assert np.all(row[:7] < -0.9) and np.all(row[9:] > 0.9)
    assert tuple(data.resize_short_side(tf.zeros([64, 160, 3], tf.uint8), 32).shape) == (32, 80, 3)
    assert tuple(data.resize_short_side(tf.zeros([10, 7, 3], tf.uint8), 32).shape) == (46, 32, 3)


def test_training_crop_is_a_random_window(tmp_path):
    cols = np.tile(np.arange(2 * SIZE, dtype=np.uint8)[None, :] * 3, (SIZE, 1))
    save(str(tmp_path / "w.png"), np.stack([cols] * 3, -1))
    ds = data.build_dataset(str(tmp_path), cfg(batch_size=1), "all", repeat=True, random_crop=True)
    offsets = set()
    for b in batches(ds, 12):
        first = int(round((b[0, 0, 0, 0] + 1) * 127.5)) // 3
        np.testing.assert_allclose(b[0, 0, :, 0], (np.arange(first, first + SIZE) * 3) / 127.5 - 1, atol=1e-6)
        offsets.add(first)
    assert len(offsets) > 3 and all(0 <= o <= SIZE for o in offsets)


# ----------------------------------------------------------------------------------- augmentation


@pytest.fixture(scope="module")
def colour_images():
    return tf.constant(np.stack([colourful(SIZE, SIZE, 10 + i) for i in range(4)]), tf.float32) / 255.0


def augmented(images01, augment, seed=(1, 2), **flags):
    config = cfg(**flags)
    return np.stack([data.augment_image(im, tf.constant([seed[0], seed[1] + i], tf.int64), config, augment).numpy()
                     for i, im in enumerate(images01)])


def test_each_augmentation_flag_changes_the_images(colour_images):
    plain = augmented(colour_images, None)
    np.testing.assert_allclose(plain, colour_images.numpy() * 2 - 1, atol=1e-6)
    off = dict(NO_AUG)
    # Everything off: 'palette' and 'dither' change nothing.
    np.testing.assert_array_equal(augmented(colour_images, "palette", **off), plain)
    np.testing.assert_array_equal(augmented(colour_images, "dither", **off), plain)
    for augment, flag in [("palette", "random_hue"), ("palette", "random_contrast"),
                          ("dither", "random_saturation"), ("dither", "dither_random_hue")]:
        changed = augmented(colour_images, augment, **{**off, flag: True})
        assert np.abs(changed - plain).mean() > 0.01, flag
        assert changed.min() >= -1 and changed.max() <= 1
        # Stateless: the same seed gives the same result, another seed another one.
        np.testing.assert_array_equal(augmented(colour_images, augment, **{**off, flag: True}), changed)
        assert not np.array_equal(augmented(colour_images, augment, seed=(5, 6), **{**off, flag: True}), changed)
    # The dither flags do nothing in palette mode and vice versa.
    np.testing.assert_array_equal(
        augmented(colour_images, "palette", **{**off, "random_saturation": True, "dither_random_hue": True}), plain)
    np.testing.assert_array_equal(
        augmented(colour_images, "dither", **{**off, "random_noise": True, "random_contrast": True}), plain)


def test_the_pipeline_applies_the_augmentation(folder):
    plain = batches(data.build_dataset(folder, cfg(batch_size=6), "all", None), 1)[0]
    palette = batches(data.build_dataset(folder, cfg(batch_size=6), "all", "palette"), 1)[0]
    assert np.abs(palette - plain).mean() > 0.05


def test_noise_has_the_configured_sigma():
    grey = tf.fill([4, SIZE, SIZE, 3], 0.5)
    for sigma in (0.1, 0.3):
        noisy = augmented(grey, "palette", **{**NO_AUG, "random_noise": True, "noise_stddev": sigma})
        assert abs(float(noisy.std()) - sigma) < 0.1 * sigma
    assert data.DataConfig().noise_stddev == 0.1 and data.DataConfig().hue_max_delta == 0.4
    assert data.DataConfig().contrast_upper == 3.0


def test_contrast_clips_to_minus_one_one(colour_images):
    out = augmented(colour_images, "palette", **{**NO_AUG, "random_contrast": True,
                                                  "contrast_lower": 2.9, "contrast_upper": 3.0})
    assert out.min() == -1.0 and out.max() == 1.0  # strong contrast saturates, then is clipped


def test_flips(colour_images):
    plain = augmented(colour_images, None)
    kinds = set()
    for seed in range(4):
        flipped = augmented(colour_images, "flip", seed=(seed, 0), **{**NO_AUG, "flip_left_right": True})
        for src, out in zip(plain, flipped):
            if np.array_equal(out, src):
                kinds.add("same")
            elif np.array_equal(out, src[:, ::-1]):
                kinds.add("mirrored")
            else:
                raise AssertionError("a left-right flip must give the image or its mirror")
    assert kinds == {"same", "mirrored"}
    updown = augmented(colour_images, "flip", **{**NO_AUG, "flip_up_down": True}, seed=(0, 0))
    assert all(np.array_equal(o, p) or np.array_equal(o, p[::-1]) for o, p in zip(updown, plain))
    assert any(np.array_equal(o, p[::-1]) for seed in range(4)
               for o, p in zip(augmented(colour_images, "flip", seed=(seed, 0),
                                         **{**NO_AUG, "flip_up_down": True}), plain))


# --------------------------------------------------------------------------------------- sources


def test_folder_recursion_and_extension_filtering(tmp_path):
    img = colourful(8, 8, 0)
    wanted = [save(str(tmp_path / "a.png"), img), save(str(tmp_path / "x" / "b.JPG"), img),
              save(str(tmp_path / "x" / "y" / "c.jpeg"), img), save(str(tmp_path / "x" / "y" / "d.WebP"), img)]
    save(str(tmp_path / "e.gif"), img)
    save(str(tmp_path / "x" / "f.bmp"), img)
    save(str(tmp_path / "._g.jpg"), img)  # macOS AppleDouble file: not an image
    (tmp_path / "notes.txt").write_text("hello")
    assert data.list_image_files([str(tmp_path)]) == sorted(wanted)
    ds = data.build_dataset(str(tmp_path), cfg(image_size=8), "all", batch=False)
    assert len(list(ds)) == 4


def test_celeba_style_folder(tmp_path):
    celeba = tmp_path / "img_align_celeba"
    for i in range(1, 11):
        save(str(celeba / f"{i:06d}.jpg"), colourful(218, 178, i), quality=90)
    ds = data.build_dataset(str(tmp_path), cfg(image_size=64, batch_size=2), "train", "dither")
    b = batches(ds, 2)[1]
    assert b.shape == (2, 64, 64, 3) and -1 <= b.min() and b.max() <= 1


def test_tfrecord_round_trip_and_split(tmp_path):
    images = [colourful(SIZE, SIZE, i) for i in range(10)]
    path = str(tmp_path / "train.tfrecord")
    assert data.write_tfrecords(images, path, filenames=NAMES[:10]) == 10
    with pytest.raises(OutputExistsError):
        data.write_tfrecords(images, path)
    got = np.stack(list(data.build_dataset(path, cfg(), "all", batch=False).as_numpy_iterator()))
    np.testing.assert_allclose(got, np.stack(images) / 127.5 - 1, atol=1e-6)  # PNG is lossless
    val = data.is_validation(NAMES[:10])
    got_val = np.stack(list(data.build_dataset(path, cfg(), "val", batch=False).as_numpy_iterator()))
    expected = np.stack([im for im, v in zip(images, val) if v]) / 127.5 - 1
    np.testing.assert_allclose(got_val, expected, atol=1e-6)
    n_train = len(list(data.build_dataset(path, cfg(), "train", batch=False, repeat=False)))
    assert n_train == 10 - len(expected)


def test_tfrecord_from_files_and_mixed_sources(tmp_path, folder):
    files = data.list_image_files([folder])
    rec = str(tmp_path / "files.tfrecords")
    data.write_tfrecords(files, rec)
    assert isinstance(data.parse_source(str(tmp_path / "*.tfrecords")), data.TFRecordSource)
    n = len(list(data.build_dataset([folder, rec], cfg(), "all", repeat=2, batch=False)))
    assert n == 2 * 2 * len(files)
    mixed = data.build_dataset([folder, rec], cfg(), "train", "palette")
    assert batches(mixed, 1)[0].shape == (2, SIZE, SIZE, 3)


def test_tfds_celeb_a_source_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    source = data.parse_source(f"celeb_a:{tmp_path}")
    assert source == data.TFDSSource(data_dir=str(tmp_path))
    # Not prepared in this directory: a clear error, and nothing is downloaded.
    with pytest.raises(data.DataSourceError, match="not available"):
        data.build_dataset(f"celeb_a:{tmp_path}", cfg(), "train")
    # tfds' own fake data: random CelebA-shaped (218 x 178) JPEG records generated from the code's spec.
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        ds = data.build_dataset(f"celeb_a:{tmp_path}", cfg(image_size=64), "train", "palette")
        b = batches(ds, 2)[1]
        val = list(data.build_dataset(f"celeb_a:{tmp_path}", cfg(image_size=64), "val", batch=False))
    assert b.shape == (2, 64, 64, 3) and -1 <= b.min() and b.max() <= 1
    assert len(val) == 6 and val[0].shape == (64, 64, 3)


def test_missing_tensorflow_datasets_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes the import fail
    with pytest.raises(data.DataSourceError, match="pip install"):
        data.build_dataset(f"celeb_a:{tmp_path}", cfg(), "train")


# ----------------------------------------------------------------------------------------- errors


def test_source_errors_name_the_path(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(data.DataSourceError, match="nope"):
        data.build_dataset(missing, cfg())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(data.DataSourceError, match="no images.*empty"):
        data.build_dataset(str(empty), cfg())
    with pytest.raises(data.DataSourceError, match="unsupported"):
        data.parse_source(str(empty / "readme.txt"))
    with pytest.raises(data.DataSourceError, match="no files match"):
        data.parse_source(str(tmp_path / "*.tfrecord"))
    assert issubclass(data.DataSourceError, GifnetsError)


def test_unreadable_image_fails_naming_the_file_unless_skipped(tmp_path):
    save(str(tmp_path / "good.png"), colourful(SIZE, SIZE, 0))
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    ds = data.build_dataset(str(tmp_path), cfg(batch_size=1), "all")
    with pytest.raises(tf.errors.InvalidArgumentError, match="broken.jpg"):
        list(ds)
    # A valid header with corrupt data fails in the decoder.
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(data.build_dataset(str(tmp_path), cfg(batch_size=1), "all"))
    kept = list(data.build_dataset(str(tmp_path), cfg(batch_size=1, skip_corrupt=True), "all"))
    assert len(kept) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        data.build_dataset(None, cfg(), "test")
    with pytest.raises(ValueError, match="augment"):
        data.build_dataset(None, cfg(), "train", "colour")
    with pytest.raises(ValueError, match="image_size"):
        data.DataConfig(image_size=0)
    with pytest.raises(ValueError, match="contrast"):
        data.DataConfig(contrast_lower=3.0, contrast_upper=2.0)
    with pytest.raises(ValueError, match="val_fraction"):
        data.DataConfig(val_fraction=1.0)
    c = data.DataConfig(seed=3, cache=True)
    assert data.DataConfig.from_dict(c.to_dict()) == c
