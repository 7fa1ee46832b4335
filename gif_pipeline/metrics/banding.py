"""Banding teacher: a BBAND-style banding-visibility score in NumPy/SciPy (GIFnets §3.3).

GIFnets trains BandingNet to imitate a non-differentiable banding metric (Wang, Kum, Chen &
Kokaram, ICIP 2016). That paper's full formula is not public; its published successor from the
same group is BBAND (Tu, Lin, Wang, Adsumilli & Bovik, "BBAND index: a no-reference banding
artifact predictor", ICASSP 2020), whose Apache-2.0 MATLAB reference is ``google/bband-adaband``.
This module is an independent NumPy re-implementation of its frame-level detector
``src/BBAD_I.m`` (cited as "BBAD_I l.N", line numbers of commit a896f73) and of the Kovesi
helpers it calls (``third_party/matlabfns/*.m``); no code was copied.

Pipeline, on BT.601 limited-range luma Y (``video_band_detect.m`` l.110-111 feeds BBAD_I the Y
plane of MATLAB ``rgb2ycbcr``):

1. Raw Sobel gradient magnitude ``G`` (BBAD_I l.101-111). Flat pixels ``G < FLAT_THRESHOLD``
   and texture pixels ``G > TEXTURE_THRESHOLD``, each cleaned by a 3x3 binary median filter
   (l.115-121). Candidate band pixels are neither (l.122-124), have no texture pixel in their 9x9
   neighbourhood (l.128-153) and lie between two plateaus (``FLANK_DISTANCE``, see below).
2. Thinning by non-maximum suppression of ``G`` along the gradient (radius 1.5, l.155-163) and
   morphological thinning, gap filling with gap size 3 (l.165-167, ``filledgegaps.m``), linking
   into 8-connected edges split at junctions (l.169-178, ``edgelink.m``), dropping edges shorter
   than 10 px (l.193-204).
3. Per-pixel visibility (l.205-229) ``G * w_lum(mu) * w_tex(mean|MSCN| in 9x9) * w_len``, with
   the visibility transfer functions of l.245-284.
4. Pooling (l.233-242): mean of the visibility values above their 20th percentile, times the
   spatial-information weight ``w_si``. This raw score is mapped to [0, 1] (:func:`raw_to_score`).

Sobel units: a step of ``d`` luma codes between two plateaus gives ``G = 4 d`` on the two pixels
straddling it (``SOBEL_STEP_GAIN``).

Deliberate deviations from the MATLAB reference (their effect on the CAMBI cross-check is in
``results/banding_teacher_vs_cambi.md``):

* **Texture threshold x8.** BBAND's ``thr2 = 12`` (l.32-36, 70-71) makes every step above 3
  codes texture; it targets compression banding of 1-3 codes. GIF palettes make steps of ~4-30
  codes (an 8-colour gradient scores 0 with ``thr2 = 12``). ``TEXTURE_THRESHOLD = 96`` widens the
  band range by 8 = 2**(5-2), the factor by which issue 4 widens CAMBI's contrast range
  (``max_log_contrast`` 5 instead of the default 2), so steps up to 24 codes count as bands.
  The flat threshold stays BBAND's ``thr1 = 2`` (l.67-68): palette plateaus are exactly flat.
* **Plateau flanks (added).** With the wider band range, soft natural edges (ramps) would pass
  as band pixels and dominate the score of unquantized photos. A false contour is a step between
  two flat regions, so a candidate must have flat pixels ``FLANK_DISTANCE`` = 3 px ahead of and
  behind it along its gradient. 3 is the smallest distance that clears the non-flat footprint of
  a step in every orientation: the 3x3 Sobel marks pixels up to 1 px (Chebyshev) from the step,
  i.e. up to sqrt(2) px along a diagonal gradient on each side, and 2 px along a diagonal rounds
  back into it. On the 24 validation photos this cut the mean raw score of the *unquantized*
  photos from 2.9 to 0.23, while their 8-colour versions stay at ~6.5.
* **NMS orientation.** BBAD_I passes ``abs(grad_dir)`` to ``nonmaxsup`` (l.159-160), which folds
  -45 degrees onto +45 rather than onto 135, so half of the diagonal edges are suppressed along
  the edge instead of across it. Here NMS samples along the true gradient direction.
* **Linking** is vectorised: junctions (crossing number >= 6, ``findendsjunctions.m``) are
  removed and the rest is labelled into 8-connected components; a component's pixel count is its
  edge length. Kovesi's tracer also assigns junction pixels to an edge; here they carry no
  visibility.
* **Percentile** uses NumPy's linear interpolation instead of MATLAB ``prctile``; if every value
  equals the 20th percentile (one uniform edge) all values are averaged instead of MATLAB's NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# --------------------------------------------------------------------------------------------
# Constants. "BBAD_I l.N" = google/bband-adaband src/BBAD_I.m at commit a896f73, line N.
# --------------------------------------------------------------------------------------------
#: Raw Sobel response to a step of one luma code between plateaus ([1 2 1] smoothing sums to 4).
SOBEL_STEP_GAIN = 4.0
#: Flat pixels: raw Sobel magnitude below this (BBAD_I l.32-33, 67-68: ``thr1 = 2``), i.e. steps
#: under half a code: exactly flat in 8-bit images.
FLAT_THRESHOLD = 2.0
#: Texture pixels: raw Sobel magnitude above this. BBAD_I l.35-36, 70-71 has ``thr2 = 12``
#: (steps > 3 codes); x8 for GIF-size steps (> 24 codes), see the module docstring.
TEXTURE_THRESHOLD = 12.0 * 8
#: Majority (median) filter for the flat and texture maps (BBAD_I l.118, 121: ``medfilt2 [3 3]``).
MEDIAN_SIZE = 3
#: Neighbourhood in which one texture pixel disqualifies a band pixel (BBAD_I l.129-153, 9x9).
TEXTURE_NEIGHBOURHOOD = 9
#: Band pixels need flat pixels this far ahead and behind along the gradient (added; 0 = off).
FLANK_DISTANCE = 3
#: Non-maximum-suppression radius (BBAD_I l.158 ``k_radius = 1.5``).
NMS_RADIUS = 1.5
#: Edge gap size for gap filling (BBAD_I l.166 ``k_fill_gap_size = 3``).
GAP_SIZE = 3
#: Edges shorter than this are dropped (BBAD_I l.194 ``k_min_edge_len = 10``).
MIN_EDGE_LENGTH = 10
#: Gaussian window of the local mean / MSCN (BBAD_I l.95 ``fspecial('gaussian', 9, 9/6)``).
GAUSSIAN_SIZE = 9
GAUSSIAN_SIGMA = 9 / 6
#: Block over which mean |MSCN| measures texture (BBAD_I l.182-188, 213-214, 224: 9x9).
TEXTURE_BLOCK = 9
#: Luminance masking VTF (BBAD_I ``vtf_lumi_mask``, l.246-257): weight 1 up to mu = 81, then
#: ``1 - 1.6e-5 (mu - 81)^2`` up to 255; 0 outside (0, 255].
LUM_KNEE = 81.0
LUM_CURVATURE = 1.6e-5
#: Texture masking VTF (BBAD_I ``vtf_text_mask``, l.260-265): 1 up to mean|MSCN| = 0.15, then
#: ``(1 + t - 0.15)^-5``.
TEX_KNEE = 0.15
TEX_EXPONENT = 5.0
#: Edge-length ("cardinality") VTF (BBAD_I ``vtf_card_mask`` l.268-269, used at l.206):
#: ``(length / sqrt(num_pixels))^0.5``.
LENGTH_EXPONENT = 0.5
#: Pooling keeps values above this percentile (BBAD_I l.235-238 ``pct = 20``).
POOL_PERCENTILE = 20.0
#: Spatial-information VTF (BBAD_I ``vtf_si`` l.282-283): ``exp(-(SI / 100)^3)``, SI = std of the
#: raw Sobel magnitude of Y (``get_si`` l.272-279).
SI_SCALE = 100.0
SI_EXPONENT = 3.0
#: Mapping to [0, 1]: ``score = 1 - exp(-raw / RAW_SCORE_SCALE)`` (monotonic, so it changes no
#: rank correlation). BBAND's raw score has no upper bound. The scale is the raw score of a
#: reference band: one straight edge spanning the image (length weight 1) with all masks 1 and a
#: 2-code step (G = 2 * SOBEL_STEP_GAIN = 8), which maps to 1 - 1/e = 0.63. Two codes is the step
#: just beyond CAMBI's default compression-banding range (1 code, ``max_log_contrast=2``). This
#: choice is a judgement call that spreads the labels: on the 24 validation photos the mean
#: score is ~0.50 at 8 colours without dithering, ~0.24 with FS, ~0.14 at 256 colours, ~0.03
#: for the unquantized photos, and 0.90-0.98 for 8-colour synthetic gradients.
RAW_SCORE_SCALE = 2.0 * SOBEL_STEP_GAIN
#: Smallest image side accepted (NMS skips a 2-px border; 9x9 windows need some content).
MIN_SIDE = 8


@dataclass
class BandingAnalysis:
    """All intermediate maps of one image (for inspection and tests)."""

    luma: np.ndarray  # float64 [H, W], BT.601 limited-range Y (16..235)
    gradient: np.ndarray  # float64 [H, W], raw Sobel magnitude
    flat: np.ndarray  # bool [H, W]
    texture: np.ndarray  # bool [H, W]
    candidates: np.ndarray  # bool [H, W], band pixels away from texture (before thinning)
    edges: np.ndarray  # bool [H, W], linked band edges of length >= MIN_EDGE_LENGTH
    edge_length: np.ndarray  # int32 [H, W], length of the edge through each pixel (0 elsewhere)
    visibility: np.ndarray  # float64 [H, W], per-pixel banding visibility (0 off edges)
    spatial_information: float
    raw_score: float  # BBAND units (raw Sobel gradient x weights)
    score: float  # in [0, 1]


def _check_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB image, got {rgb.dtype} {rgb.shape}")
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image is {rgb.shape[1]}x{rgb.shape[0]}; the banding metric needs both sides "
                         f">= {MIN_SIDE} px")
    return rgb


def luma_bt601(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma rounded to integers, as MATLAB ``im2uint8(rgb2ycbcr(...))``."""
    rgb = rgb.astype(np.float64)
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    return np.round(y)


def _sobel(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw Sobel derivatives (x to the right, y down) with replicate padding (BBAD_I l.101-111)."""
    gx = ndimage.sobel(y, axis=1, mode="nearest")
    gy = ndimage.sobel(y, axis=0, mode="nearest")
    return gx, gy


def _majority3(mask: np.ndarray) -> np.ndarray:
    """3x3 binary median filter with zero padding (``medfilt2`` on a logical image)."""
    counts = ndimage.uniform_filter(mask.astype(np.float32), MEDIAN_SIZE, mode="constant", cval=0.0)
    return counts * MEDIAN_SIZE**2 > (MEDIAN_SIZE**2) / 2


def _guo_hall_tables() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables of Guo & Hall's parallel thinning (CACM 1989, algorithm A1), the algorithm
    of MATLAB ``bwmorph(bw, 'thin', Inf)`` used by Kovesi's helpers. Index bit i-1 holds
    neighbour x_i, counter-clockwise from x1 = east; one table per sub-iteration."""
    codes = np.arange(256)
    x = [None] + [((codes >> (i - 1)) & 1).astype(bool) for i in range(1, 9)]
    x.append(x[1])  # x9 = x1
    crossings = sum((~x[2 * i - 1] & (x[2 * i] | x[2 * i + 1])).astype(int) for i in range(1, 5))
    n1 = sum((x[2 * k - 1] | x[2 * k]).astype(int) for k in range(1, 5))
    n2 = sum((x[2 * k] | x[2 * k + 1]).astype(int) for k in range(1, 5))
    n = np.minimum(n1, n2)
    deletable = (crossings == 1) & (n >= 2) & (n <= 3)
    first = deletable & ~((x[2] | x[3] | ~x[8]) & x[1])
    second = deletable & ~((x[6] | x[7] | ~x[4]) & x[5])
    return first, second


_THIN_TABLES = _guo_hall_tables()
# (row, col) offsets of neighbours x1..x8.
_NEIGHBOUR_OFFSETS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def _thin(bw: np.ndarray) -> np.ndarray:
    """Guo-Hall thinning to convergence (same result as ``skimage.morphology.thin``), evaluated
    only at foreground pixels, which is several times faster on sparse edge maps."""
    p = np.pad(np.asarray(bw, bool), 1)
    rows, cols = np.nonzero(p)
    changed = True
    while changed:
        changed = False
        for table in _THIN_TABLES:
            code = np.zeros(rows.size, np.uint8)
            for bit, (dr, dc) in enumerate(_NEIGHBOUR_OFFSETS):
                code |= p[rows + dr, cols + dc].astype(np.uint8) << bit
            delete = table[code]
            if delete.any():
                p[rows[delete], cols[delete]] = False
                rows, cols = rows[~delete], cols[~delete]
                changed = True
    return p[1:-1, 1:-1]


def _non_max_suppression(grad: np.ndarray, gx: np.ndarray, gy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep pixels of ``grad * mask`` that exceed both bilinear samples at +-NMS_RADIUS along the
    gradient (Kovesi ``nonmaxsup.m``), then thin the result to one pixel (its final step)."""
    values = grad * mask
    h, w = grad.shape
    border = int(np.ceil(NMS_RADIUS))
    inner = np.zeros_like(mask)
    inner[border:h - border, border:w - border] = True
    rows, cols = np.nonzero(mask & inner & (grad > 0))
    if rows.size == 0:
        return np.zeros_like(mask)
    norm = grad[rows, cols]
    ux = gx[rows, cols] / norm
    uy = gy[rows, cols] / norm
    centre = values[rows, cols]
    ahead = ndimage.map_coordinates(values, [rows + NMS_RADIUS * uy, cols + NMS_RADIUS * ux], order=1)
    behind = ndimage.map_coordinates(values, [rows - NMS_RADIUS * uy, cols - NMS_RADIUS * ux], order=1)
    keep = (centre > ahead) & (centre > behind)
    out = np.zeros_like(mask)
    out[rows[keep], cols[keep]] = True
    return _thin(out)


def _flanked_by_flat(flat, gx, gy, grad, mask):
    """True where the pixels FLANK_DISTANCE px ahead of and behind a pixel, along its gradient,
    are both flat: the pixel lies on a step between two plateaus (a false contour)."""
    h, w = flat.shape
    rows, cols = np.nonzero(mask & (grad > 0))
    out = np.zeros_like(mask)
    if rows.size == 0:
        return out
    ux = gx[rows, cols] / grad[rows, cols]
    uy = gy[rows, cols] / grad[rows, cols]
    ok = np.ones(rows.size, bool)
    for sign in (1.0, -1.0):
        r = np.clip(np.rint(rows + sign * FLANK_DISTANCE * uy).astype(int), 0, h - 1)
        c = np.clip(np.rint(cols + sign * FLANK_DISTANCE * ux).astype(int), 0, w - 1)
        ok &= flat[r, c]
    out[rows[ok], cols[ok]] = True
    return out


def _crossings(bw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of 0/1 changes around each pixel's 8-neighbourhood, and its neighbour count."""
    p = np.pad(bw, 1).astype(np.int8)
    h, w = bw.shape
    # Perimeter in circular order, starting top-left, clockwise.
    ring = [p[0:h, 0:w], p[0:h, 1:w + 1], p[0:h, 2:w + 2], p[1:h + 1, 2:w + 2],
            p[2:h + 2, 2:w + 2], p[2:h + 2, 1:w + 1], p[2:h + 2, 0:w], p[1:h + 1, 0:w]]
    crossings = sum(np.abs(ring[i] - ring[(i + 1) % 8]) for i in range(8))
    neighbours = sum(ring)
    return crossings, neighbours


def _fill_gaps(bw: np.ndarray) -> np.ndarray:
    """Kovesi ``filledgegaps.m`` with gap size GAP_SIZE: a disk of radius GAP_SIZE/2 (a 3x3
    square for 3) on every end point and isolated pixel, thin, fill the small 4-connected holes
    this leaves (area <= pi (GAP_SIZE/2)^2), thin again."""
    if not bw.any():
        return bw
    crossings, neighbours = _crossings(bw)
    seeds = bw & ((crossings == 2) | (neighbours == 0))
    radius = max(GAP_SIZE / 2, 1.0)
    half = int(np.ceil(2 * radius)) // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    disk = np.hypot(yy, xx) <= radius
    h, w = bw.shape
    # Kovesi only places blobs that fit inside the image.
    seeds[:half, :] = False
    seeds[h - half - 1:, :] = False
    seeds[:, :half] = False
    seeds[:, w - half - 1:] = False
    grown = bw | ndimage.binary_dilation(seeds, structure=disk)
    grown = _thin(grown)
    labels, n = ndimage.label(~grown)  # default structure = 4-connectivity
    if n:
        areas = np.bincount(labels.ravel())
        small = areas <= np.pi * (GAP_SIZE / 2) ** 2
        small[0] = False
        grown = grown | small[labels]
    return _thin(grown)


def _link_edges(bw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the thinned edge map at junctions and label 8-connected edges.

    Returns (labels int32 [H, W], length per label, index 0 unused)."""
    crossings, _ = _crossings(bw)
    pieces = bw & ~(crossings >= 6)
    labels, n = ndimage.label(pieces, structure=np.ones((3, 3), bool))
    lengths = np.bincount(labels.ravel(), minlength=n + 1)
    lengths[0] = 0
    return labels.astype(np.int32), lengths


def _lum_weight(mu: np.ndarray) -> np.ndarray:
    w = np.where(mu <= LUM_KNEE, 1.0, 1.0 - LUM_CURVATURE * (mu - LUM_KNEE) ** 2)
    return np.where((mu <= 0) | (mu > 255), 0.0, w)


def _texture_weight(t: np.ndarray) -> np.ndarray:
    return np.where(t <= TEX_KNEE, 1.0, (1.0 + t - TEX_KNEE) ** -TEX_EXPONENT)


def _gaussian_window_filter(x: np.ndarray) -> np.ndarray:
    # A 9-tap Gaussian with sigma 1.5 (truncate = 4 / 1.5 gives radius 4), normalised over the
    # window like fspecial, replicate padding like imfilter(..., 'replicate').
    return ndimage.gaussian_filter(x, GAUSSIAN_SIGMA, mode="nearest",
                                   truncate=(GAUSSIAN_SIZE // 2) / GAUSSIAN_SIGMA)


def raw_to_score(raw: float) -> float:
    """Map a raw BBAND score (>= 0) to [0, 1): ``1 - exp(-raw / RAW_SCORE_SCALE)``."""
    return float(1.0 - np.exp(-max(raw, 0.0) / RAW_SCORE_SCALE))


def analyze_banding(rgb) -> BandingAnalysis:
    """Run the whole BBAND-style detector on a uint8 RGB image and return every stage."""
    rgb = _check_rgb(rgb)
    y = luma_bt601(rgb)
    h, w = y.shape
    gx, gy = _sobel(y)
    grad = np.hypot(gx, gy)

    # Step 1: flat / texture / band pixel maps (BBAD_I l.115-153).
    flat = _majority3(grad < FLAT_THRESHOLD)
    texture = _majority3(grad > TEXTURE_THRESHOLD)
    near_texture = ndimage.maximum_filter(texture, TEXTURE_NEIGHBOURHOOD, mode="nearest")
    candidates = ~flat & ~texture & ~near_texture
    if FLANK_DISTANCE:
        candidates &= _flanked_by_flat(flat, gx, gy, grad, candidates)

    # Step 2: thin, fill gaps, link, drop short edges (BBAD_I l.155-204).
    thinned = _non_max_suppression(grad, gx, gy, candidates)
    filled = _fill_gaps(thinned)
    labels, lengths = _link_edges(filled)
    keep = lengths >= MIN_EDGE_LENGTH
    keep[0] = False
    edge_length = np.where(keep[labels], lengths[labels], 0).astype(np.int32)
    edges = edge_length > 0

    # Step 3: per-pixel visibility (BBAD_I l.95-99 MSCN, l.205-229 weights).
    mu = _gaussian_window_filter(y)
    sigma = np.sqrt(np.abs(_gaussian_window_filter(y * y) - mu * mu))
    mscn = (y - mu) / (sigma + 1.0)
    local_texture = ndimage.uniform_filter(np.abs(mscn), TEXTURE_BLOCK, mode="nearest")
    length_weight = (edge_length / np.sqrt(h * w)) ** LENGTH_EXPONENT  # 0 off edges
    visibility = np.zeros_like(grad)
    visibility[edges] = (grad[edges] * _lum_weight(mu[edges]) * _texture_weight(local_texture[edges])
                         * length_weight[edges])

    # Step 4: pooling (BBAD_I l.233-242).
    si = float(np.std(grad, ddof=1))
    values = visibility[visibility > 0]
    if values.size == 0:
        raw = 0.0
    else:
        cut = np.percentile(values, POOL_PERCENTILE)
        top = values[values > cut]
        if top.size == 0:
            top = values
        raw = float(np.exp(-(si / SI_SCALE) ** SI_EXPONENT) * top.mean())
    return BandingAnalysis(luma=y, gradient=grad, flat=flat, texture=texture, candidates=candidates,
                           edges=edges, edge_length=edge_length, visibility=visibility,
                           spatial_information=si, raw_score=raw, score=raw_to_score(raw))


def banding_score(rgb) -> float:
    """Banding visibility of a uint8 RGB image in [0, 1] (0 = no visible banding)."""
    return analyze_banding(rgb).score


def banding_map(rgb) -> np.ndarray:
    """Per-pixel banding visibility (float64 [H, W], raw BBAND units, 0 off band edges)."""
    return analyze_banding(rgb).visibility


def band_edges(rgb) -> np.ndarray:
    """Boolean [H, W] map of the detected (thinned, gap-filled, linked, long enough) band edges."""
    return analyze_banding(rgb).edges
