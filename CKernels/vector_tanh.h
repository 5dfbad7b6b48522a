/* Internal: tanh of a float in float arithmetic, so that loops over it vectorize (libm's tanhf
 * is a call per element). A loop over it is compiled with CK_VECTORIZED_FMA (threading.h). */
#ifndef CK_VECTOR_TANH_H
#define CK_VECTOR_TANH_H

#include "threading.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* tanh(x) for a = |x|, the sign of x copied back:
 * - a < 0.55: a + a t P(t), t = a^2, P the minimax polynomial of degree 4 for
 *   (tanh(a)/a - 1)/t (relative error of the result below 2^-27.7).
 * - a >= 0.55: (E - 1)/(E + 1) with E = e^(2b), b = min(a, 8.49). b = n ln2/2 + r, n the
 *   integer nearest 2b/ln2, |r| <= ln2/4 (one fmaf with ln2 rounded to float: an error
 *   below 1e-9 n in r), e^(2r) = 1 + 2h, h = r + r^2 Q(r), Q the minimax polynomial of
 *   degree 4 (relative error of h below 2^-25.8). d = (E + 1)/2 = (2^(n-1) + 1/2) + 2^n h
 *   rounded, d_error its rounding error (2^(n-1) + 1/2 is exact and not below |2^n h|);
 *   numerator = d - 1 is exact (d < 2^24 as n <= 24), so (E - 1)/2 = numerator + d_error.
 *   y0 = numerator/d rounded; with z = 1 - y0 (exact, about 1/d) and the division's exact
 *   residual rho = numerator - y0 d, the result is y0 + (rho + d_error z) z, rounded once:
 *   the division's rounding and d's are taken back.
 *   From a = 8.49 the result is tanh(8.49) rounded, 1 - 2^-24, within half an ulp of tanh
 *   below 9.0109134, from where tanh rounds to 1 and the result is 1.
 * Both polynomials share their Horner steps, each lane selecting its coefficients.
 * Against double tanh over all floats: error at most 0.77 ulp. ±0 and subnormals give x,
 * ±inf gives ±1, NaN gives NaN. Every product and sum is its own statement, each fmaf is
 * written out: the same bits in every instruction set. */
static inline __attribute__((always_inline)) float tanh_float(float x) {
    static const float odd[] = {-0.33333316445350647f, 0.13332585990428925f,
                                -0.05385230854153633f, 0.021071679890155792f,
                                -0.006274240091443062f};
    static const float exp_tail[] = {0.9999999403953552f, 0.6666617393493652f,
                                     0.33333760499954224f, 0.13386422395706177f,
                                     0.04442407190799713f};
    const float round_shift = 0x1.8p23f, two_log2e = 2.88539008177792681f,
                half_ln2 = 0.693147182464599609375f / 2;
    float a = fabsf(x);
    int small = a < 0.55f;
    float b = a > 8.49f ? 8.49f : a; /* NaN stays NaN */
    float shifted = fmaf(b, two_log2e, round_shift); /* n in the low bits */
    float n = shifted - round_shift;
    float r = fmaf(n, -half_ln2, b);
    float t = a * a;
    float v = small ? t : r, u = small ? a : r;
    /* Written out: as a loop, the compiler splits the shared Horner steps into two. */
    float c = small ? odd[4] : exp_tail[4];
    c = fmaf(c, v, small ? odd[3] : exp_tail[3]);
    c = fmaf(c, v, small ? odd[2] : exp_tail[2]);
    c = fmaf(c, v, small ? odd[1] : exp_tail[1]);
    c = fmaf(c, v, small ? odd[0] : exp_tail[0]);
    float uv = u * v;
    float p = fmaf(uv, c, u); /* a + a t P(t), or h */
    /* 2^n and 2^(n-1) from n's bits, as in double_exp.h. */
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    uint32_t scale_bits = (bits + 127) << 23, half_scale_bits = (bits + 126) << 23;
    float scale, half_scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    memcpy(&half_scale, &half_scale_bits, sizeof half_scale);
    float head = half_scale + 0.5f;
    float d = fmaf(scale, p, head);
    float d_error = head - d;
    d_error = fmaf(scale, p, d_error); /* scale p is exact: so is this */
    float numerator = d - 1.0f;
    float y0 = numerator / d;
    float rho = fmaf(-y0, d, numerator);
    float z = 1.0f - y0;
    float correction = fmaf(d_error, z, rho);
    float large = fmaf(correction, z, y0);
    large = a >= 0x1.205968p+3f ? 1.0f : large; /* 9.0109134: tanh rounds to 1 from here */
    return copysignf(small ? p : large, x);
}

#endif
