/* gifnets' error diffusion (gif_pipeline/quant/error_diffusion.py) as a plain raster loop in C.
 *
 * The NumPy version runs the same Floyd-Steinberg scan as anti-diagonal wavefronts; per wavefront step its cost is
 * mostly NumPy's per-call overhead and the argmax over the palette. This file does one window (a strip of whole rows)
 * pixel by pixel, with the same rules: the received error scaled by the dither map, the large-error rules
 * (x0.8 on a received error, x0.75 on a quantisation error above max_error, pixel + error clipped to [-25.5, 280.5]),
 * the exact nearest colour under a quadratic metric (the first of equal scores), and the background candidate of
 * error_diffusion_batch. Both compute in float32; they can differ where two colours score within float rounding.
 *
 * Loaded with ctypes (gif_pipeline/quant/error_diffusion.py, _kernel): ed_window is the only entry point. The module
 * init only makes the file a valid extension module for setuptools to build.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* The palette index of the best score v . (w0, w1, w2) + w3 over KP (a multiple of 16) colours, the first of equal
 * scores; the score in *best_score. The sums run in the same order in every version (no fused multiply-add). */
typedef int (*nearest_fn)(float, float, float, const float *, const float *, const float *, const float *, float *,
                          int, float *);

static int nearest_plain(float v0, float v1, float v2, const float *w0, const float *w1, const float *w2,
                         const float *w3, float *sc, int KP, float *best_score)
{
    int best = 0;
    float b = v0 * w0[0] + v1 * w1[0] + v2 * w2[0] + w3[0];
    for (int k = 1; k < KP; k++) {
        float s = v0 * w0[k] + v1 * w1[k] + v2 * w2[k] + w3[k];
        if (s > b) {
            b = s;
            best = k;
        }
    }
    (void)sc;
    *best_score = b;
    return best;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define GIFNETS_X86 1

static int nearest_sse(float v0, float v1, float v2, const float *w0, const float *w1, const float *w2,
                       const float *w3, float *sc, int KP, float *best_score)
{
    const __m128 a0 = _mm_set1_ps(v0), a1 = _mm_set1_ps(v1), a2 = _mm_set1_ps(v2);
    __m128 m = _mm_set1_ps(-3.4e38f);
    for (int k = 0; k < KP; k += 4) {
        __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_mul_ps(a0, _mm_loadu_ps(w0 + k)),
                                                    _mm_mul_ps(a1, _mm_loadu_ps(w1 + k))),
                                         _mm_mul_ps(a2, _mm_loadu_ps(w2 + k))), _mm_loadu_ps(w3 + k));
        _mm_storeu_ps(sc + k, s);
        m = _mm_max_ps(m, s);
    }
    m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    *best_score = _mm_cvtss_f32(m);
    for (int k = 0;; k += 4) { /* the first colour with the best score */
        int hit = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(sc + k), m));
        if (hit)
            return k + __builtin_ctz(hit);
    }
}

__attribute__((target("avx"))) static int nearest_avx(float v0, float v1, float v2, const float *w0, const float *w1,
                                                      const float *w2, const float *w3, float *sc, int KP,
                                                      float *best_score)
{
    const __m256 a0 = _mm256_set1_ps(v0), a1 = _mm256_set1_ps(v1), a2 = _mm256_set1_ps(v2);
    __m256 m0 = _mm256_set1_ps(-3.4e38f), m1 = m0;
    for (int k = 0; k < KP; k += 16) {
        __m256 s0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(a0, _mm256_loadu_ps(w0 + k)),
                                                              _mm256_mul_ps(a1, _mm256_loadu_ps(w1 + k))),
                                                _mm256_mul_ps(a2, _mm256_loadu_ps(w2 + k))), _mm256_loadu_ps(w3 + k));
        __m256 s1 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(a0, _mm256_loadu_ps(w0 + k + 8)),
                                                              _mm256_mul_ps(a1, _mm256_loadu_ps(w1 + k + 8))),
                                                _mm256_mul_ps(a2, _mm256_loadu_ps(w2 + k + 8))),
                                  _mm256_loadu_ps(w3 + k + 8));
        _mm256_storeu_ps(sc + k, s0);
        _mm256_storeu_ps(sc + k + 8, s1);
        m0 = _mm256_max_ps(m0, s0);
        m1 = _mm256_max_ps(m1, s1);
    }
    m0 = _mm256_max_ps(m0, m1);
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    *best_score = _mm_cvtss_f32(m);
    const __m256 mm = _mm256_set1_ps(*best_score);
    for (int k = 0;; k += 8) {
        int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sc + k), mm, _CMP_EQ_OQ));
        if (hit)
            return k + __builtin_ctz(hit);
    }
}
#endif

/* AVX where the CPU has it, else SSE (x86-64 always has it), else plain C; GIFNETS_ED_KERNEL=plain|sse asks for a
 * slower one (the tests compare them: the same indices). */
static nearest_fn pick_nearest(void)
{
    const char *ask = getenv("GIFNETS_ED_KERNEL");
    if (ask && !strcmp(ask, "plain"))
        return nearest_plain;
#ifdef GIFNETS_X86
    __builtin_cpu_init();
    if (ask && !strcmp(ask, "sse"))
        return nearest_sse;
    if (__builtin_cpu_supports("avx"))
        return nearest_avx;
    return nearest_sse;
#else
    return nearest_plain;
#endif
}

/* An error whose squared length exceeds big, times factor (the large-error rules). */
static inline void shrink_large(float *a0, float *a1, float *a2, float big, float factor)
{
    if (*a0 * *a0 + *a1 * *a1 + *a2 * *a2 > big) {
        *a0 *= factor;
        *a1 *= factor;
        *a2 *= factor;
    }
}

/* Dither rows [y0, y0 + hh) of an image ww pixels wide, starting with no error; write the indices of rows [ky0, ky1)
 * (absolute, inside the window) to out. Every array is addressed through its own
 * strides in elements, st[2 * a] for a row and st[2 * a + 1] for a column, for a = img (its 3 channels contiguous),
 * level, out, bg (3 channels contiguous) and bias: a transposed view needs no copy.
 *   img: uint8 RGB; level: float32 (dither map x attenuation); out: uint8;
 *   pal: float32 [K, 3] colours; pw: float32 [K, 4] score weights (2 Q c, -c.Q c); qm: float32 [3, 3] the metric Q
 *   (symmetric; diagonal for channel weights);
 *   big: max_error (squared length), limit: the large-error rules on/off;
 *   bg: NULL or uint8 RGB (the background candidate, index K), bias: its float32 bias (needed with bg).
 * Returns 0, or -1 when memory runs out. */
int ed_window(const uint8_t *img, const float *level, uint8_t *out, const uint8_t *bg, const float *bias,
              const long long *st, int y0, int hh, int ww, int ky0, int ky1, const float *pal,
              const float *pw, const float *qm, int K, float big, int limit)
{
    const float f7 = 7.0f / 16.0f, f3 = 3.0f / 16.0f, f5 = 5.0f / 16.0f, f1 = 1.0f / 16.0f;
    /* error arriving at the current row and at the next one, one pixel of padding on each side */
    float *cur = (float *)calloc((size_t)(ww + 2) * 3, sizeof(float));
    float *nxt = (float *)calloc((size_t)(ww + 2) * 3, sizeof(float));
    /* the score weights as four arrays (the loop over colours vectorises), padded to a multiple of 16 with colours
     * that never win, and the scores */
    const int KP = (K + 15) & ~15;
    float *sw = (float *)malloc((size_t)KP * 5 * sizeof(float));
    if (!cur || !nxt || !sw) {
        free(cur);
        free(nxt);
        free(sw);
        return -1;
    }
    float *w0 = sw, *w1 = sw + KP, *w2 = sw + 2 * KP, *w3 = sw + 3 * KP, *sc = sw + 4 * KP;
    nearest_fn nearest = pick_nearest();
    for (int k = 0; k < KP; k++) {
        w0[k] = k < K ? pw[4 * k] : 0.0f;
        w1[k] = k < K ? pw[4 * k + 1] : 0.0f;
        w2[k] = k < K ? pw[4 * k + 2] : 0.0f;
        w3[k] = k < K ? pw[4 * k + 3] : -3e38f;
    }
    for (int yy = 0; yy < hh; yy++) {
        const int y = y0 + yy;
        const int keep_row = y >= ky0 && y < ky1;
        memset(nxt, 0, (size_t)(ww + 2) * 3 * sizeof(float));
        for (int x = 0; x < ww; x++) {
            float *ep = cur + (size_t)(x + 1) * 3;
            const float lv = level[y * st[2] + x * st[3]];
            float e0 = ep[0] * lv, e1 = ep[1] * lv, e2 = ep[2] * lv;
            if (limit)
                shrink_large(&e0, &e1, &e2, big, 0.8f);
            const uint8_t *px = img + y * st[0] + x * st[1];
            float v0 = (float)px[0] + e0, v1 = (float)px[1] + e1, v2 = (float)px[2] + e2;
            if (limit) {
                v0 = v0 < -25.5f ? -25.5f : v0 > 280.5f ? 280.5f : v0;
                v1 = v1 < -25.5f ? -25.5f : v1 > 280.5f ? 280.5f : v1;
                v2 = v2 < -25.5f ? -25.5f : v2 > 280.5f ? 280.5f : v2;
            }
            float best_score;
            int best;
            float c0, c1, c2;
            const float bias_here = bg ? bias[y * st[8] + x * st[9]] : 0.0f;
            if (bg && bias_here == INFINITY) { /* forced (a still pixel): no search */
                const uint8_t *bp = bg + y * st[6] + x * st[7];
                best = K;
                c0 = bp[0];
                c1 = bp[1];
                c2 = bp[2];
            } else {
                best = nearest(v0, v1, v2, w0, w1, w2, w3, sc, KP, &best_score);
                const float *c = pal + 3 * best;
                c0 = c[0];
                c1 = c[1];
                c2 = c[2];
                if (bg) { /* the score 2 v . Q b - b . Q b + bias, as the NumPy scan computes it */
                    const uint8_t *bp = bg + y * st[6] + x * st[7];
                    const float b0 = bp[0], b1 = bp[1], b2 = bp[2];
                    const float qb0 = (qm[0] * b0 + qm[1] * b1) + qm[2] * b2;
                    const float qb1 = (qm[3] * b0 + qm[4] * b1) + qm[5] * b2;
                    const float qb2 = (qm[6] * b0 + qm[7] * b1) + qm[8] * b2;
                    const float t = bias_here - ((b0 * qb0 + b1 * qb1) + b2 * qb2);
                    if (((v0 * (2.0f * qb0) + v1 * (2.0f * qb1)) + v2 * (2.0f * qb2)) + t >= best_score) {
                        best = K;
                        c0 = b0;
                        c1 = b1;
                        c2 = b2;
                    }
                }
            }
            if (keep_row)
                out[y * st[4] + x * st[5]] = (uint8_t)best;
            float q0 = v0 - c0, q1 = v1 - c1, q2 = v2 - c2;
            if (limit)
                shrink_large(&q0, &q1, &q2, big, 0.75f);
            if (x + 1 < ww) {
                ep[3] += f7 * q0;
                ep[4] += f7 * q1;
                ep[5] += f7 * q2;
            }
            float *np_ = nxt + (size_t)(x + 1) * 3;
            if (x > 0) {
                np_[-3] += f3 * q0;
                np_[-2] += f3 * q1;
                np_[-1] += f3 * q2;
            }
            np_[0] += f5 * q0;
            np_[1] += f5 * q1;
            np_[2] += f5 * q2;
            if (x + 1 < ww) {
                np_[3] += f1 * q0;
                np_[4] += f1 * q1;
                np_[5] += f1 * q2;
            }
        }
        float *t = cur;
        cur = nxt;
        nxt = t;
    }
    free(cur);
    free(nxt);
    free(sw);
    return 0;
}

static struct PyModuleDef edkernel_module = {PyModuleDef_HEAD_INIT, "_edkernel",
                                             "gifnets' error diffusion kernel (loaded with ctypes).", -1, NULL};

PyMODINIT_FUNC PyInit__edkernel(void) { return PyModule_Create(&edkernel_module); }
