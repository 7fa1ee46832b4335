"""Floyd–Steinberg error diffusion with the exact nearest colour, vectorised over anti-diagonal wavefronts.

Pillow's Floyd–Steinberg (``dither='fs'``) picks each colour through a 6-bit-per-channel cache, so it often
does not take the nearest palette colour; this module does (the ``2 x.c - |c|^2`` scores of
:func:`gif_pipeline.quant.dithering._nearest_rows`, in float32 on the error-carrying pixel values).

**Wavefront.** In a raster scan pixel ``(y, x)`` receives error from ``(y, x-1)`` and from ``(y-1, x-1..x+1)``.
All pixels with the same ``t = x + 2y`` are therefore independent of each other and depend only on
smaller ``t``. The image is stored skewed, ``S[t, y] = image[y, t - 2y]``, so that a wavefront is a
contiguous run of one row of ``S`` and its four error targets are the slices ``[t+1, y]`` (right),
``[t+1, y+1]`` (below left), ``[t+2, y+1]`` (below) and ``[t+3, y+1]`` (below right): ``W + 2H - 2``
numpy steps of at most ``min(H, W/2)`` pixels each instead of ``H * W`` scalar steps. The result is
the same as the plain raster scan (``tests/quant/test_error_diffusion.py`` checks it against a scalar loop).
A serpentine scan cannot be written this way (the first pixel of a right-to-left row needs the whole
row above).

**What was taken from libimagequant's remap** (its ``remap.rs`` / ``image.rs``, read, not copied; each
measured on the val photos, docs/experiments/gifnets.md 2026-12-06 "error diffusion"):

* the diffused error is attenuated (``attenuation``, 15/16 there), so that errors do not pile up in
  areas that the palette cannot reach;
* a large received error is shrunk (x0.8) and each channel of pixel plus error is clipped to a small
  margin around the RGB cube; a quantisation error above ``max_error`` is multiplied by 0.75 before it
  is diffused ("no green pixels in the blue");
* the *dither map*: less diffusion on edges and in noisy texture (which masks banding), full diffusion
  in flat areas; a pixel's level also falls with how busy the nearest-colour remap is around it;
* colour distances weighted 0.5 : 1 : 0.45 (R : G : B); any quadratic metric can be given
  (:func:`color_metric`), and gifnets measures mostly luma (:func:`luma_metric`) in animations and for still
  images up to 64 colours (:func:`gif_pipeline.quant.dithering.ed_settings`).

Not taken: libimagequant's rule that leaves tiny received errors out (no measurable effect here) and its
serpentine order (not possible with the wavefront).
"""
from __future__ import annotations

import numpy as np

#: Set to False to run the NumPy wavefronts even where the C kernel is built (tests and benchmarks compare the two).
USE_KERNEL = True
_KERNEL = []  # [the ctypes function or None], loaded on first use


def _kernel():
    """``ed_window`` of the C kernel (``_edkernel.c``, built by ``pip install`` where a C compiler is found), or
    None: then :func:`error_diffusion_batch` runs its NumPy wavefronts (the same dither, up to float rounding)."""
    if not _KERNEL:
        fn = None
        try:
            import ctypes

            from gif_pipeline.quant import _edkernel

            lib = ctypes.CDLL(_edkernel.__file__)
            fn = lib.ed_window
            p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
            fn.argtypes = [p, p, p, p, p, p, i, i, i, i, i, p, p, p, i, f, i]
            fn.restype = ctypes.c_int
        except (ImportError, OSError, AttributeError):
            fn = None
        _KERNEL.append(fn)
    return _KERNEL[0] if USE_KERNEL else None


def _starts(n: int, size: int, warm: int) -> tuple[list[int], int]:
    """The windows of an axis of ``n`` cut into pieces of ``size``, each with ``warm`` lead-in (:func:`_strips`, and
    the C kernel's strips): their starts and their length."""
    length = min(n, size + warm)
    return [max(0, min(b * size - warm, n - length)) for b in range(-(-n // size))], length


#: Threads the C kernel's windows (strips) run on: ctypes releases the GIL, and the windows are independent.
KERNEL_THREADS = 2
_POOL = []


def _pool():
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(KERNEL_THREADS, thread_name_prefix="gifnets-ed"))
    return _POOL[0]


def _diffuse_kernel(fn, images, levels, pal, weights4, metric, bigs, limit, background, bg_bias, columns, strip_rows,
                    warm_up):
    """:func:`error_diffusion_batch`'s scan by the C kernel: each image's strips, one window each, on
    :data:`KERNEL_THREADS` threads. ``columns``: the kernel walks the arrays transposed (through their strides).
    The strips are the NumPy scan's (:func:`_strips`: ``warm_up`` rows above each, whose indices are thrown away)."""
    num, h, w = images.shape[:3]
    k = pal.shape[1]
    out = np.empty((num, h, w), np.uint8)
    scan_h, scan_w = (w, h) if columns else (h, w)
    row_starts, hs = _starts(scan_h, strip_rows, warm_up)
    qm = np.ascontiguousarray(metric, np.float32)  # [3, 3]

    def strides(a, channels=False):  # (row, column) strides in elements, of the scan's rows and columns
        a = np.asarray(a)
        sy, sx = (a.strides[0] // a.itemsize, a.strides[1] // a.itemsize)
        if channels and a.strides[2] != a.itemsize:
            raise ValueError("the colour channels must be contiguous")
        return (sx, sy) if columns else (sy, sx)

    calls = []
    for i in range(num):
        img = images[i] if images[i].strides[2] == 1 else np.ascontiguousarray(images[i])
        img = img if img.dtype == np.uint8 else img.astype(np.uint8)
        lev = np.asarray(levels[i], np.float32)
        colours = np.ascontiguousarray(pal[i], np.float32)
        pw = np.ascontiguousarray(weights4[i], np.float32)
        bg = bias = None
        st = strides(img, True) + strides(lev) + strides(out[i])
        if background is not None:
            bg = background[i] if background[i].strides[2] == 1 else np.ascontiguousarray(background[i])
            bg = bg if bg.dtype == np.uint8 else bg.astype(np.uint8)
            bias = np.asarray(bg_bias[i], np.float32)
            st += strides(bg, True) + strides(bias)
        else:
            st += (0, 0, 0, 0)
        st = np.array(st, np.int64)
        keep = (img, lev, colours, pw, bg, bias, st)  # alive until the calls are done
        for b, s in enumerate(row_starts):
            calls.append((keep, (img.ctypes.data, lev.ctypes.data, out[i].ctypes.data,
                                 None if bg is None else bg.ctypes.data, None if bias is None else bias.ctypes.data,
                                 st.ctypes.data, s, hs, scan_w, b * strip_rows, min(scan_h, (b + 1) * strip_rows),
                                 colours.ctypes.data, pw.ctypes.data, qm.ctypes.data, k, float(bigs[i]), int(limit))))

    def run(part):
        return [fn(*args) for _, args in part]

    if KERNEL_THREADS > 1 and len(calls) > 1:
        codes = [r for part in _pool().map(run, [calls[j::KERNEL_THREADS] for j in range(KERNEL_THREADS)])
                 for r in part]
    else:
        codes = run(calls)
    if any(codes):
        raise MemoryError("error diffusion: out of memory")
    return out


#: BT.601 RGB -> (Y, Cb, Cr) (full range, no offsets): VMAF reads Y only.
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def color_metric(channel_weights=None) -> np.ndarray:
    """The colour distance of the error diffusion as a symmetric float32 ``[3, 3]`` matrix ``Q`` (the distance of
    ``d`` is ``d . Q d``): ``None`` is plain RGB, three channel weights are a diagonal ``Q``, a ``[3, 3]`` matrix
    (such as :func:`luma_metric`'s) is taken as it is."""
    if channel_weights is None:
        return np.eye(3, dtype=np.float32)
    q = np.asarray(channel_weights, np.float32)
    if q.shape == (3,):
        return np.diag(q)
    if q.shape != (3, 3) or not np.allclose(q, q.T) or np.any(np.linalg.eigvalsh(q.astype(np.float64)) < -1e-6):
        raise ValueError(f"channel_weights must be 3 weights or a symmetric positive semidefinite [3, 3] matrix, "
                         f"got {q.shape}")
    return q


def luma_metric(chroma: float, scale: float = 1.0) -> np.ndarray:
    """``Q`` (:func:`color_metric`) of the distance ``scale * (dY^2 + chroma * (dCb^2 + dCr^2))`` (BT.601): with
    ``chroma < 1`` the dither keeps each pixel's luma closer and carries more of the error in the colour difference,
    which the eye (and VMAF, which reads luma only) sees less of."""
    w = np.diag([1.0, float(chroma), float(chroma)])
    return (float(scale) * YCBCR.T @ w @ YCBCR).astype(np.float32)


#: Without the dither map, :func:`dither_maps` estimates the error budget (:func:`default_max_error`) from a grid of
#: about this many pixels instead of all of them.
MAX_ERROR_SAMPLES = 16384

#: Floyd–Steinberg weights: right, below-left, below, below-right.
_FS = np.array([7.0, 3.0, 5.0, 1.0], np.float32) / 16.0
#: The nearest-colour scores of a wavefront step have a multiple of this many columns (padding that never wins): numpy's
#: argmax over rows of 128 floats took 120 us where rows of 127 took 175 us (2,000 rows).
_ALIGN = 16


def _along(ndim: int, axis: int, start, stop) -> tuple:
    """The index ``[..., start:stop, ...]`` on ``axis`` (slicing in place of moving the axis to the front: the
    filters' passes then run on the arrays' own layout)."""
    index = [slice(None)] * ndim
    index[axis] = slice(start, stop)
    return tuple(index)


def _sliding(a: np.ndarray, size: int, op, axis: int) -> np.ndarray:
    """``op`` (np.maximum / np.minimum) over a centred window of odd ``size`` along ``axis``, edges replicated:
    windows of 2, 4, ... by doubling, then one last step to ``size``."""
    r, n, nd = size // 2, a.shape[axis], a.ndim
    p = np.concatenate([np.repeat(a[_along(nd, axis, 0, 1)], r, axis), a, np.repeat(a[_along(nd, axis, n - 1, n)], r, axis)],
                       axis=axis)  # p[i] = a[clip(i - r)]
    width, cur = 1, p
    while 2 * width <= size:
        m = cur.shape[axis]
        cur = op(cur[_along(nd, axis, 0, m - width)], cur[_along(nd, axis, width, m)])  # cur[i] = op(p[i : i + 2 width])
        width *= 2
    if width < size:
        m = cur.shape[axis]
        cur = op(cur[_along(nd, axis, 0, m - (size - width))], cur[_along(nd, axis, size - width, m)])
    return cur[_along(nd, axis, 0, n)]


def _filter(a: np.ndarray, size: int, op) -> np.ndarray:
    """``size`` x ``size`` max (``op=np.maximum``) or min filter with edge replication (``k`` passes of the 3x3
    filter are the ``2k+1`` square one)."""
    return _sliding(_sliding(a, size, op, 0), size, op, 1)


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur of size ``2 radius + 1`` with edge replication."""
    out = a
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float32)
        k, m = 2 * radius + 1, c.shape[axis]
        out = (c[_along(2, axis, k, m)] - c[_along(2, axis, 0, m - k)]) * np.float32(1.0 / k)
    return out


def contrast_map(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel dither weight in [0, 1] from local contrast: ~1 in flat areas, lower on edges and in noise.

    The second differences across and along each pixel (max over channels) give an edge strength; a
    noise measure (large second differences in both directions) is dilated, blurred and eroded so that
    textured areas, not thin lines, are marked, and the weight is the smaller of the two.
    """
    f = np.moveaxis(rgb, 2, 0).astype(np.float32) * np.float32(1.0 / 255.0)  # channel planes [3, H, W]

    def chmax(d):  # max over the 3 channel planes (numpy reduces a short last axis slowly)
        return np.maximum(np.maximum(d[0], d[1]), d[2])

    horiz = np.zeros(f.shape[1:], np.float32)
    vert = np.zeros(f.shape[1:], np.float32)
    # second differences; at the border the missing neighbour repeats the pixel (so the term is a first difference)
    horiz[:, 1:-1] = chmax(np.abs(f[:, :, :-2] + f[:, :, 2:] - 2 * f[:, :, 1:-1]))
    if f.shape[2] > 1:
        horiz[:, 0] = chmax(np.abs(f[:, :, 1] - f[:, :, 0]))
        horiz[:, -1] = chmax(np.abs(f[:, :, -2] - f[:, :, -1]))
    vert[1:-1] = chmax(np.abs(f[:, :-2] + f[:, 2:] - 2 * f[:, 1:-1]))
    if f.shape[1] > 1:
        vert[0] = chmax(np.abs(f[:, 1] - f[:, 0]))
        vert[-1] = chmax(np.abs(f[:, -2] - f[:, -1]))
    edge = np.maximum(horiz, vert)
    z = 1.0 - np.maximum(edge - 0.5 * np.abs(horiz - vert), np.minimum(horiz, vert))
    np.clip(z, 0.0, 1.0, out=z)
    z *= z
    z *= z
    noise = z * np.float32(176.0 / 255.0) + np.float32(80.0 / 255.0)
    edges = np.clip(1.0 - edge, 0.0, 1.0)
    noise = _filter(noise, 5, np.maximum)  # two 3x3 dilations
    noise = _filter(_box_blur(noise, 3), 3, np.maximum)
    noise = _filter(noise, 7, np.minimum)  # three 3x3 erosions
    edges = _filter(_filter(edges, 3, np.minimum), 3, np.maximum)
    return np.minimum(noise, edges)


def run_flatness(indices: np.ndarray) -> np.ndarray:
    """Per-pixel factor in (0, 1): how flat the nearest-colour remap is around a pixel.

    For each horizontal run of one index, ``n = 10 * length + 15 * (pixels of the run whose upper or
    lower neighbour has the same index)``; the factor is ``1 - 20 / (20 + n)`` (1/3 for an isolated pixel,
    near 1 inside a large flat region).
    """
    h, w = indices.shape
    same = np.zeros((h, w), np.float32)
    same[1:] += indices[1:] == indices[:-1]
    same[:-1] += indices[:-1] == indices[1:]
    starts = np.ones((h, w), bool)
    starts[:, 1:] = indices[:, 1:] != indices[:, :-1]
    run_id = np.cumsum(starts.reshape(-1)) - 1  # row starts are run starts, so runs never cross rows
    lengths = np.bincount(run_id)
    matches = np.bincount(run_id, weights=same.reshape(-1))
    n = 10.0 * lengths + 15.0 * matches
    return (1.0 - 20.0 / (20.0 + n))[run_id].reshape(h, w).astype(np.float32)


#: Rows per strip: the image is cut into strips of this many rows, each dithered after :data:`WARM_UP` rows of the
#: strip above (whose indices are thrown away), and all strips run their wavefronts together. 256x256: 324 numpy
#: steps instead of 766 (docs/experiments/gifnets.md).
STRIP_ROWS = 32
#: Rows of the strip above dithered first to start a strip's error state (libimagequant does the same between its
#: threads' chunks); the seams are measured in the notebook.
WARM_UP = 2


def _strips(a: np.ndarray, strip_rows: int, warm_up: int) -> np.ndarray:
    """``[B, strip_rows + warm_up, W, ...]``: strip ``b`` starts ``warm_up`` rows above row ``b * strip_rows``
    (the first strip has its warm-up rows at the bottom instead; rows past the image repeat the last row)."""
    starts, hs = _starts(a.shape[0], strip_rows, warm_up)
    return np.stack([a[s:s + hs] for s in starts]), starts


def _skew(a: np.ndarray, fill=0) -> np.ndarray:
    """``S[b, t, y] = a[b, y, t - 2y]`` for ``[B, H, W, ...]`` ``a``; ``S`` is ``[B, W + 2H - 2, H, ...]``."""
    b, h, w = a.shape[:3]
    s = np.full((b, w + 2 * h - 2, h) + a.shape[3:], fill, a.dtype)
    for y in range(h):
        s[:, 2 * y:2 * y + w, y] = a[:, y]
    return s


def _unskew(s: np.ndarray, w: int) -> np.ndarray:
    return np.stack([s[:, 2 * y:2 * y + w, y] for y in range(s.shape[2])], axis=1)


def default_max_error(rgb: np.ndarray, pal: np.ndarray, nearest_indices: np.ndarray) -> float:
    """The squared error length (8-bit units) above which errors are damped: 2.4 x the mean squared nearest-colour
    error (libimagequant's rule), at least 16^2, and at least half the median squared distance from a palette colour
    to its nearest other one. The last keeps sparse palettes dithering: with black and white only, a dark grey's
    errors would otherwise be damped below the threshold of white and the grey would stay black."""
    d = rgb.reshape(-1, 3).astype(np.float32) - pal.take(nearest_indices.reshape(-1).astype(np.intp), axis=0)
    spacing = 0.0
    if len(pal) > 1:
        c = pal.astype(np.float64)
        sq = np.sum(c * c, axis=1)
        gaps = sq[:, None] + sq[None] - 2.0 * (c @ c.T)  # squared distances (exact: integer colours in float64)
        np.fill_diagonal(gaps, np.inf)
        gaps = gaps.min(axis=1)
        spacing = 0.5 * float(np.median(gaps[np.isfinite(gaps) & (gaps > 0)])) if np.any(gaps > 0) else 0.0
    return max(2.4 * float(np.einsum("ij,ij->", d, d)) / len(d), 16.0 ** 2, spacing)


def error_diffusion(rgb: np.ndarray, palette: np.ndarray, *, attenuation: float = 15.0 / 16.0, limit: bool = True,
                    max_error: float | None = None, dither_map: bool = True, map_floor: float = 0.0,
                    channel_weights=None, nearest_indices: np.ndarray | None = None,
                    strip_rows: int = STRIP_ROWS, warm_up: int = WARM_UP, columns: bool = False) -> np.ndarray:
    """Indices (uint8 ``[H, W]``) of Floyd–Steinberg error diffusion of uint8 ``rgb`` onto uint8 ``palette [K, 3]``.

    The colour of each pixel (plus the error it received) is the exact nearest palette colour under the
    distance ``sum_c channel_weights[c] * d_c^2`` (default: all 1, plain RGB; or ``d . Q d`` for a ``[3, 3]``
    matrix ``Q``, :func:`color_metric`). ``attenuation`` scales the
    diffused error. ``limit`` turns on the large-error rules: the pixel plus its error is clipped to
    [-0.1, 1.1] x 255, a received error whose squared length exceeds ``max_error`` is multiplied by 0.8
    and a quantisation error above it by 0.75 before it is passed on (``max_error`` in squared 8-bit
    units; default :func:`default_max_error`). ``dither_map`` scales the
    diffusion per pixel by ``map_floor + (1 - map_floor) * contrast_map * run_flatness``. With
    ``attenuation=1, limit=False, dither_map=False`` and a ``strip_rows`` of at least the image height
    this is plain raster Floyd–Steinberg with the exact nearest colour (``columns``: of the transposed image; see
    :func:`error_diffusion_batch`).
    """
    return error_diffusion_batch(rgb[None], palette[None], attenuation=attenuation, limit=limit, max_error=max_error,
                                 dither_map=dither_map, map_floor=map_floor, channel_weights=channel_weights,
                                 nearest_indices=None if nearest_indices is None else nearest_indices[None],
                                 strip_rows=strip_rows, warm_up=warm_up, columns=columns)[0]


def dither_maps(images: np.ndarray, palettes: np.ndarray, *, attenuation: float = 15.0 / 16.0, limit: bool = True,
                max_error: float | None = None, dither_map: bool = True, map_floor: float = 0.0,
                nearest_indices: np.ndarray | None = None, threads: bool = False, **_) -> list:
    """Each image's ``(level, max_error)`` for :func:`error_diffusion_batch` (its ``maps``): the per-pixel diffusion
    level (dither map x ``attenuation``, float32 ``[H, W]``) and the error budget. They read the image and its
    nearest colours only, so an animation computes them ahead of the scans that read the canvas. ``threads``: on the
    kernel's thread pool (NumPy releases the GIL in its loops). Other keywords (the rest of ``ED_SETTINGS``) are
    ignored."""
    from gif_pipeline.quant.dithering import _nearest_rows

    num, h, w = images.shape[:3]
    pal = palettes.astype(np.float32)

    step = 1 if dither_map else max(1, int(np.ceil(np.sqrt(h * w / MAX_ERROR_SAMPLES))))

    def prepare(i):  # image i's dither map and error budget
        rgb = images[i]
        near = None if nearest_indices is None else nearest_indices[i]
        # without the dither map the nearest colours only estimate the error budget: on a grid of pixels
        sub = rgb[::step, ::step]
        if (dither_map or (limit and max_error is None)) and near is None:
            near = _nearest_rows(np.ascontiguousarray(sub).reshape(-1, 3), palettes[i]).reshape(sub.shape[:2])
        elif near is not None:
            near = near[::step, ::step]
        big = (np.inf if not limit else float(max_error) if max_error is not None
               else default_max_error(sub, pal[i], near))
        if dither_map:
            level = contrast_map(rgb)
            level *= run_flatness(near)
            if map_floor:
                level = map_floor + (1.0 - map_floor) * level
            level *= np.float32(attenuation)  # float32 [H, W], as contrast_map and run_flatness
        else:
            level = np.full((h, w), attenuation, np.float32)
        return level, big

    if threads and KERNEL_THREADS > 1 and num > 1:
        return list(_pool().map(prepare, range(num)))
    return [prepare(i) for i in range(num)]


def error_diffusion_batch(images: np.ndarray, palettes: np.ndarray, *, attenuation: float = 15.0 / 16.0,
                          limit: bool = True, max_error: float | None = None, dither_map: bool = True,
                          map_floor: float = 0.0, channel_weights=None, nearest_indices: np.ndarray | None = None,
                          strip_rows: int = STRIP_ROWS, warm_up: int = WARM_UP, columns: bool = False,
                          background: np.ndarray | None = None, bg_bias: np.ndarray | None = None,
                          maps: list | None = None) -> np.ndarray:
    """:func:`error_diffusion` of same-size images ``[N, H, W, 3]``, each on its own palette (``[N, K, 3]``, one K):
    uint8 ``[N, H, W]``, each image the same as alone. All images step through their wavefronts together, so
    numpy's per-call cost is paid once per step for the whole batch.

    ``columns``: scan down the columns instead of along the rows (the raster scan of the transposed image, with the
    dither map and error limits of the image as it is; strips of ``strip_rows`` columns): ``H + 2 W`` wavefront steps
    instead of ``W + 2 H`` (with strips: ``H + 2 strip_rows`` instead of ``W + 2 strip_rows``), so fewer for a frame
    wider than tall. A different, equally valid dither (the animation encoder uses it; still images keep rows).

    ``maps``: :func:`dither_maps` of these images with these settings, computed ahead (else here).

    ``background`` (uint8 ``[N, H, W, 3]``, with ``bg_bias`` float ``[N, H, W]``): one more candidate per pixel, the
    colour the pixel shows now (an animation's canvas), returned as index ``K`` (the transparent index of a table of
    ``K`` colours). It is taken when its score ``2 x.b - |b|^2`` (the same weighted distance) plus ``bg_bias`` is at
    least the best palette colour's, and its own error is diffused: ``bias`` 0 is the exact nearest of the ``K + 1``
    candidates, a positive bias prefers the background (fewer pixels written), ``+inf`` forces it (a still pixel),
    ``-inf`` rules it out (no background there).
"""
    from gif_pipeline.quant.dithering import _blas_threads

    num, h, w = images.shape[:3]
    k = palettes.shape[1]
    pal = palettes.astype(np.float32)  # [N, K, 3]
    metric = color_metric(channel_weights)
    pq = pal @ metric  # [N, K, 3]: Q c (exactly cw c for channel weights)
    weights4 = np.concatenate([2.0 * pq, -np.sum(pal * pq, axis=2, keepdims=True)], axis=2)  # [N, K, 4]

    fn = _kernel()
    if maps is None:
        maps = dither_maps(images, palettes, attenuation=attenuation, limit=limit, max_error=max_error,
                           dither_map=dither_map, map_floor=map_floor, nearest_indices=nearest_indices,
                           threads=fn is not None)
    levels, bigs = zip(*maps)
    if background is not None and k >= 256:
        raise ValueError("a background candidate needs a palette of at most 255 colours (index K is it)")
    strip_rows = max(1, int(strip_rows))
    scan_h, scan_w = (w, h) if columns else (h, w)
    warm_up = 0 if strip_rows >= scan_h else max(0, int(warm_up))
    if fn is not None:  # the C kernel reads every array through its strides: no copies, no transposes
        return _diffuse_kernel(fn, images, levels, pal, weights4, metric, bigs, limit, background, bg_bias, columns,
                               strip_rows, warm_up)
    weights = np.ascontiguousarray(weights4.transpose(0, 2, 1))  # [N, 4, K]
    if k % _ALIGN:  # score columns padded to a multiple of _ALIGN that never win: numpy's argmax is faster on them
        pad = np.zeros((num, 4, _ALIGN - k % _ALIGN), np.float32)
        pad[:, 3] = -3e38
        weights = np.concatenate([weights, pad], axis=2)
    levels = np.stack(levels)
    bgw = None
    if background is not None:
        bgf = np.asarray(background, np.float32)
        bq = bgf @ metric
        bgw = np.concatenate([bgf, 2.0 * bq, (np.asarray(bg_bias, np.float32) - np.sum(bgf * bq, axis=3))[..., None]],
                             axis=3)  # [N, H, W, 7]: the colour, then the score's weights on (pixel + error, 1)
        if columns:
            bgw = bgw.transpose(0, 2, 1, 3)
    if columns:
        images, levels, h, w = images.transpose(0, 2, 1, 3), levels.transpose(0, 2, 1), w, h
    # _strips cuts along axis 0 (rows); with the images moved behind the rows, every strip holds all the images
    # cut and skewed as uint8 (a quarter of the bytes to move), made float32 once in the wavefront-major layout
    img_strips, starts = _strips(np.moveaxis(np.asarray(images), 0, 2), strip_rows, warm_up)  # [S, hs, W, N, 3]
    src = _skew(np.moveaxis(img_strips, 3, 0).reshape((-1,) + img_strips.shape[1:3] + (3,)))  # [N*S, T, hs, 3]
    lev_strips = _strips(np.moveaxis(levels, 0, 2), strip_rows, warm_up)[0]  # [S, hs, W, N]
    lev = _skew(np.moveaxis(lev_strips, 3, 0).reshape((-1,) + lev_strips.shape[1:3]))[..., None]
    if bgw is not None:
        bg_strips = _strips(np.moveaxis(bgw, 0, 2), strip_rows, warm_up)[0]  # [S, hs, W, N, 7]
        bgw = np.ascontiguousarray(_skew(np.moveaxis(bg_strips, 3, 0).reshape((-1,) + bg_strips.shape[1:3] + (7,)))
                                   .swapaxes(0, 1))  # [T, N*S, hs, 7]
    nb, t_count, hs = src.shape[:3]
    # wavefront-major: a step's pixels of all strips lie together in memory (strip-major, they were ~100 KB apart)
    src, lev = src.swapaxes(0, 1).astype(np.float32, order="C"), np.ascontiguousarray(lev.swapaxes(0, 1))
    per = nb // num  # strips per image
    err = np.zeros((t_count + 3, nb, hs + 1, 3), np.float32)
    out = np.zeros((t_count, nb, hs), np.uint8)  # K <= 256
    m = nb * min(hs, w)  # the most pixels in one wavefront
    # buffers of every step (numpy's per-call cost, not the arithmetic, is most of a step's time)
    vb = np.ones((m, 4), np.float32)  # pixel + error, and a 1 for the palette's -|c|^2 row
    scores, best = np.empty((num, m // num, weights.shape[2]), np.float32), np.empty((num, m // num), np.intp)
    eb, qb, tb = np.empty((m, 3), np.float32), np.empty((m, 3), np.float32), np.empty((4 * m, 3), np.float32)
    sqb = np.empty(m, np.float32)
    fs = _FS[:, None, None, None]
    big = np.repeat(np.asarray(bigs, np.float32), per)[:, None]  # [N*S, 1]
    big_min = float(big.min())
    flat_pal = pal.reshape(-1, 3)
    offsets = (np.arange(num) * k)[:, None] if num > 1 else None
    with _blas_threads().limit(limits=1, user_api="blas"):
        for t in range(t_count):
            lo, hi = max(0, (t - w + 2) // 2), min(hs - 1, t // 2) + 1
            n = hi - lo
            c = nb * n
            e = np.multiply(err[t, :, lo:hi], lev[t, :, lo:hi], out=eb[:c].reshape(nb, n, 3))
            rows = vb[:c]
            v = rows.reshape(nb, n, 4)[..., :3]
            if limit:
                sq = np.vecdot(e, e, out=sqb[:c].reshape(nb, n))
                if sq.max() > big_min:  # rare: skip the masking work when no error is large
                    np.multiply(e, np.float32(0.8), out=e, where=(sq > big)[..., None])
                np.add(src[t, :, lo:hi], e, out=v)
                np.maximum(rows, -25.5, out=rows)  # the whole contiguous rows: their 1s stay 1
                np.minimum(rows, 280.5, out=rows)
            else:
                np.add(src[t, :, lo:hi], e, out=v)
            sc = np.matmul(rows.reshape(num, per * n, 4), weights, out=scores[:, :per * n])
            idx = sc.argmax(axis=2, out=best[:, :per * n])  # [N, S*n]
            q = qb[:c].reshape(nb, n, 3)
            flat_pal.take(idx if offsets is None else idx + offsets, axis=0, out=q.reshape(num, per * n, 3))
            if bgw is None:
                out[t, :, lo:hi] = idx.reshape(nb, n)
            else:  # the background where it scores at least the best palette colour
                b = bgw[t, :, lo:hi]
                s_bg = np.vecdot(rows.reshape(nb, n, 4), b[..., 3:])
                use = s_bg.reshape(num, per * n) >= np.take_along_axis(sc, idx[..., None], axis=2)[..., 0]
                out[t, :, lo:hi] = np.where(use, k, idx).reshape(nb, n)
                use = use.reshape(nb, n)
                np.copyto(q, b[..., :3], where=use[..., None])
            np.subtract(v, q, out=q)
            if limit:
                sq = np.vecdot(q, q, out=sqb[:c].reshape(nb, n))
                if sq.max() > big_min:
                    np.multiply(q, np.float32(0.75), out=q, where=(sq > big)[..., None])
            parts = np.multiply(fs, q[None], out=tb[:4 * c].reshape(4, nb, n, 3))  # right, below-left, below, ...
            target = err[t + 1, :, lo:hi]
            target += parts[0]
            target = err[t + 1:t + 4, :, lo + 1:hi + 1]
            target += parts[1:]
    rows = _unskew(out.swapaxes(0, 1), w).reshape(num, per, hs, w)
    result = np.empty((num, h, w), np.uint8)
    for b, s in enumerate(starts):
        r0 = b * strip_rows
        r1 = min(h, r0 + strip_rows)
        result[:, r0:r1] = rows[:, b, r0 - s:r1 - s]
    return np.ascontiguousarray(result.transpose(0, 2, 1)) if columns else result


def floyd_steinberg_reference(rgb: np.ndarray, palette: np.ndarray, background: np.ndarray | None = None,
                              bg_bias: np.ndarray | None = None, channel_weights=None) -> np.ndarray:
    """Plain raster Floyd–Steinberg with the exact nearest colour, one pixel at a time (slow; for tests); with
    ``background`` and ``bg_bias`` as :func:`error_diffusion_batch` takes them (index ``K`` for the background), and
    its colour distance (``channel_weights``, :func:`color_metric`)."""
    h, w = rgb.shape[:2]
    pal = palette.astype(np.float64)
    qm = color_metric(channel_weights).astype(np.float64)
    work = rgb.astype(np.float64).copy()
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            v = work[y, x]
            scores = 2 * pal @ (qm @ v) - np.einsum("kc,cd,kd->k", pal, qm, pal)
            i = int(np.argmax(scores))
            colour = pal[i]
            if background is not None:
                b = background[y, x].astype(np.float64)
                if 2 * b @ qm @ v - b @ qm @ b + bg_bias[y, x] >= scores[i]:
                    i, colour = len(pal), b
            out[y, x] = i
            q = v - colour
            if x + 1 < w:
                work[y, x + 1] += q * 7 / 16
            if y + 1 < h:
                if x > 0:
                    work[y + 1, x - 1] += q * 3 / 16
                work[y + 1, x] += q * 5 / 16
                if x + 1 < w:
                    work[y + 1, x + 1] += q * 1 / 16
    return out
