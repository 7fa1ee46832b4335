"""Palette projection: the GIF colour-quantization step (GIFnets Eq. 1 and Eq. 3).

* Hard projection (Eq. 1): every pixel takes the nearest palette colour,
  ``Proj(I, P)[x] = P[argmin_k ||I[x] - P[k]||^2]``. Used at inference.
* Soft projection (Eq. 3): a softmax over negative squared distances with
  temperature ``T`` mixes the palette colours, ``sum_k softmax(-d_k / T) P[k]``.
  It tends to the hard projection as ``T -> 0`` and keeps gradients with respect
  to both the image and the palette. Used in training (the paper uses T = 0.001).

Shapes: images are ``[B, H, W, 3]`` (or ``[H, W, 3]``), palettes ``[B, K, 3]``
(or ``[K, 3]``, shared by the batch). Distances use the expansion
``||a||^2 - 2 a.b + ||b||^2`` so that memory is ``B*H*W*K`` floats, never
``B*H*W*K*3``; hard projection additionally works in row chunks so that a
1024x1024 image with 256 colours stays small.

Only builtin TFLite ops are used (``tf.argmax`` rather than ``keras.ops.argmax``,
which lowers to a Flex op).
"""
from __future__ import annotations

import tensorflow as tf


def _as_batched(image, palette):
    image = tf.convert_to_tensor(image, tf.float32)
    palette = tf.convert_to_tensor(palette, tf.float32)
    squeeze = image.shape.rank == 3
    if squeeze:
        image = image[tf.newaxis]
    if palette.shape.rank == 2:
        palette = tf.broadcast_to(palette[tf.newaxis], [tf.shape(image)[0], tf.shape(palette)[0], 3])
    if image.shape.rank != 4 or palette.shape.rank != 3:
        raise ValueError(f"expected image [B,H,W,3] and palette [B,K,3], got {image.shape} and {palette.shape}")
    return image, palette, squeeze


def squared_distances(pixels: tf.Tensor, palette: tf.Tensor) -> tf.Tensor:
    """``||p - c||^2`` for pixels ``[B, N, 3]`` and palette ``[B, K, 3]`` -> ``[B, N, K]``."""
    p2 = tf.reduce_sum(tf.square(pixels), axis=-1, keepdims=True)  # [B, N, 1]
    c2 = tf.reduce_sum(tf.square(palette), axis=-1)[:, tf.newaxis, :]  # [B, 1, K]
    cross = tf.matmul(pixels, palette, transpose_b=True)  # [B, N, K]
    return tf.maximum(p2 - 2.0 * cross + c2, 0.0)


def nearest(pixels: tf.Tensor, palette: tf.Tensor):
    """Eq. 1's nearest colour for pixels ``[B, N, 3]``: ``(indices int32 [B, N], squared distance [B, N])``.

    ``argmin_k ||x - c_k||^2 = argmax_k (x.c_k - ||c_k||^2 / 2)``: one ``[N, 4] x [4, K]`` product and
    an argmax, without the ``[B, N, K]`` temporaries of :func:`squared_distances` (20% faster at K = 256).
    """
    half_norm = 0.5 * tf.reduce_sum(tf.square(palette), axis=-1, keepdims=True)  # [B, K, 1]
    score = tf.matmul(tf.concat([pixels, tf.ones_like(pixels[..., :1])], -1),
                      tf.concat([palette, -half_norm], -1), transpose_b=True)  # [B, N, K]
    best = tf.reduce_max(score, axis=-1)
    distance = tf.maximum(tf.reduce_sum(tf.square(pixels), axis=-1) - 2.0 * best, 0.0)
    return tf.argmax(score, axis=-1, output_type=tf.int32), distance


def hard_projection(image, palette, max_elements: int = 1 << 20):
    """Nearest-colour projection (Eq. 1).

    Args:
      image: float ``[B, H, W, 3]`` or ``[H, W, 3]``.
      palette: float ``[B, K, 3]`` or ``[K, 3]``, in the same colour range as ``image``.
      max_elements: upper bound on the ``B*N*K`` scores held at once; above it the image is
        projected in chunks of rows. Chunks that stay in cache are faster: on a 256x256 image
        with 256 colours, 4 MB chunks took 10 ms and one 64 MB piece 38 ms (docs/experiments/gifnets.md).

    Returns:
      ``(indices, quantized)``: int32 ``[B, H, W]`` and float32 ``[B, H, W, 3]``
      (without the batch axis if ``image`` had none).
    """
    image, palette, squeeze = _as_batched(image, palette)

    def project(chunk):
        pixels = tf.reshape(chunk, [tf.shape(chunk)[0], -1, 3])
        return tf.reshape(nearest(pixels, palette)[0], tf.shape(chunk)[:3])

    b, h, w, k = image.shape[0], image.shape[1], image.shape[2], palette.shape[1]
    if None not in (b, h, w, k) and b * h * w * k <= max_elements:
        indices = project(image)
    elif None not in (b, h, w, k) and tf.executing_eagerly():  # Python-level chunks (an eager loop is slow)
        rows = max(1, max_elements // (b * w * k))
        indices = tf.concat([project(image[:, s:s + rows]) for s in range(0, h, rows)], axis=1)
    else:  # in a graph: a loop over chunks of rows
        b, h, w, k = tf.shape(image)[0], tf.shape(image)[1], tf.shape(image)[2], tf.shape(palette)[1]
        rows = tf.maximum(1, max_elements // tf.maximum(1, b * w * k))
        n_chunks = (h + rows - 1) // rows
        parts = tf.TensorArray(tf.int32, size=n_chunks, infer_shape=False)

        def body(i, parts):
            # TensorArray.concat joins on axis 0, so rows go first.
            chunk = project(image[:, i * rows:(i + 1) * rows])
            return i + 1, parts.write(i, tf.transpose(chunk, [1, 0, 2]))

        _, parts = tf.while_loop(lambda i, _: i < n_chunks, body, [tf.constant(0), parts])
        indices = tf.ensure_shape(tf.transpose(parts.concat(), [1, 0, 2]), image.shape[:3])
    quantized = tf.gather(palette, indices, batch_dims=1)
    if squeeze:
        return indices[0], quantized[0]
    return indices, quantized


def soft_projection(image, palette, temperature: float = 1e-3):
    """Differentiable projection (Eq. 3): ``sum_k softmax_k(-||I - P_k||^2 / T) P_k``.

    Returns float32 with the shape of ``image``. As ``temperature -> 0`` this tends to
    :func:`hard_projection`; gradients flow to both ``image`` and ``palette``.
    """
    image, palette, squeeze = _as_batched(image, palette)
    shape = tf.shape(image)
    pixels = tf.reshape(image, [shape[0], -1, 3])
    weights = tf.nn.softmax(-squared_distances(pixels, palette) / temperature, axis=-1)
    out = tf.reshape(tf.matmul(weights, palette), shape)
    return out[0] if squeeze else out


def _pixel_palette_distances(image, palette) -> tf.Tensor:
    """``[B, N, K]`` squared distances between every pixel and every palette colour."""
    image, palette, _ = _as_batched(image, palette)
    return squared_distances(tf.reshape(image, [tf.shape(image)[0], -1, 3]), palette)


def coverage_loss(image, palette):
    """Mean over palette colours of the squared distance to their nearest pixel (not in the paper).

    Zero when every colour sits on some pixel. Added to Eq. 2 with a small weight it gives colours
    that no pixel picks (and so Eq. 2 never moves) a gradient towards the image's colours.
    """
    return tf.reduce_mean(tf.reduce_min(_pixel_palette_distances(image, palette), axis=1))


def nested_quantization_loss(image, palette, sizes):
    """Eq. 2 averaged over the palette prefixes ``P[:k]``, ``k`` in ``sizes`` (not in the paper).

    Trains the first ``k`` colours to be a ``k``-colour palette on their own for every ``k``, so
    that one network serves several Np. The distances are computed once for the whole palette.
    """
    distances = _pixel_palette_distances(image, palette)
    return tf.add_n([tf.reduce_mean(tf.reduce_min(distances[..., :k], axis=-1)) for k in sizes]) / len(sizes)


def sample_pixels(image, count: int, seed=None):
    """``count`` pixels per image drawn uniformly with replacement: ``[B, H, W, 3]`` -> ``[B, 1, count, 3]``.

    The same positions are used for every image of the batch (an unbiased estimate of a mean over pixels).
    """
    image = tf.convert_to_tensor(image, tf.float32)
    flat = tf.reshape(image, [tf.shape(image)[0], -1, 3])
    positions = tf.random.uniform([count], 0, tf.shape(flat)[1], dtype=tf.int32, seed=seed)
    return tf.gather(flat, positions, axis=1)[:, tf.newaxis]


def quantization_loss(image, palette):
    """PaletteNet's loss (Eq. 2): mean over pixels of ``||I - P[k*]||^2``, k* the nearest colour.

    The minimum distance is differentiable in the palette (gradient flows to the chosen
    colour), which is how PaletteNet is trained self-supervised.
    """
    return tf.reduce_mean(tf.reduce_min(_pixel_palette_distances(image, palette), axis=-1))
