/* Internal: elementary functions written in plain arithmetic, so that loops calling them
 * vectorize (libm's are a call per element). */
#ifndef CK_VECTOR_MATH_H
#define CK_VECTOR_MATH_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* x's bits with the sign cleared: ordered as |x|, inf above the finite floats, NaN above inf. */
static inline uint32_t magnitude_bits(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits & 0x7fffffffu;
}

/* c[0] + c[1] t + ... + c[n-1] t^(n-1) by Horner's rule, each product and sum its own
 * statement: never fused into a multiply-add, the same bits in every instruction set. */
static inline __attribute__((always_inline)) float polynomial_float(const float *c, int n, float t) {
    float p = c[n - 1];
    for (int i = n - 2; i >= 0; i--) {
        p = p * t;
        p = p + c[i];
    }
    return p;
}

/* e^x for x <= 0, in plain arithmetic so that loops over it vectorize (libm's expf is a call
 * per element), each product and sum its own statement (no fused multiply-add: the same bits
 * in every instruction set). x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact
 * n ln2; n rounded by adding and subtracting 1.5 2^23, which leaves n in the sum's low bits),
 * e^r by a polynomial of degree 6 close to the minimax one on [-ln2/2, ln2/2] (error below
 * 3e-9 relative), times 2^n built in the exponent bits. Below -87.3, where 2^n would leave the
 * normal range, the result is 0; NaN stays NaN. Checked against exp over every float in
 * [-87.3, 0]: error below 1.38 ulp. */
static inline float exp_nonpositive(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.42860682030941723212e-6f, round_shift = 0x1.8p23f;
    float scaled = x * log2e;
    float shifted = scaled + round_shift;
    float n = shifted - round_shift;
    float n_ln2_hi = n * ln2_hi, n_ln2_lo = n * ln2_lo;
    float r_hi = x - n_ln2_hi;
    float r = r_hi - n_ln2_lo;
    static const float coefficients[] = {1.0f,          1.00000004f,   0.500000005f,
                                         0.166664155f,  0.0416663529f, 0.0083751264f,
                                         0.00139411084f};
    float p = polynomial_float(coefficients, 7, r);
    /* 2^n: n + 127 from the sum's bits, in the exponent field (for x below -87.3 or NaN some
     * float, not used or multiplied into NaN). */
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4b400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.3f ? 0.0f : p * scale;
}

/* e^x for any float x, in plain arithmetic so that loops over it vectorize, each product and
 * sum its own statement (no fused multiply-add: the same bits in every instruction set).
 * x = n ln2 + r (|r| <= ln2 / 2; n rounded by adding and subtracting 1.5 2^23, which leaves n
 * in the sum's low bits; ln2 split in two, n ln2_hi and r_hi = x - n ln2_hi exact),
 * r = r_hi - n ln2_lo rounded, with its rounding error r_err kept. e^r = 1 + r + r^2 q(r),
 * q a polynomial of degree 5 close to the minimax one for (e^r - 1 - r) / r^2 on
 * [-ln2/2, ln2/2] (error below 2e-9, 2e-10 relative to e^r); 1 + r is split exactly into
 * hi + lo, so that the result rounds once: hi + (lo + r^2 q + r_err hi). 2^n is applied as
 * two factors 2^floor(n/2) 2^(n - floor(n/2)), the first exact, so that results near
 * overflow and in the subnormal range round once. Checked against exp over all floats:
 * error below 0.77 ulp (largest for subnormal results; 0.63 for normal ones). Beyond
 * [-104, 89], where e^x is below half the least subnormal or above FLT_MAX, the result is
 * that of the end: +0 or +inf; NaN stays NaN. */
static inline float exp_full_range(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.42860682030941723212e-6f, round_shift = 0x1.8p23f;
    /* Two statements, each a maximum or minimum instruction; NaN passes both. */
    float raised = x < -104.0f ? -104.0f : x;
    float clamped = raised > 89.0f ? 89.0f : raised;
    float scaled = clamped * log2e;
    float shifted = scaled + round_shift;
    float n = shifted - round_shift; /* scaled rounded to an integer */
    float n_ln2_hi = n * ln2_hi, n_ln2_lo = n * ln2_lo;
    float r_hi = clamped - n_ln2_hi;
    float r = r_hi - n_ln2_lo;
    float r_err = (r_hi - r) - n_ln2_lo;
    static const float q_coefficients[] = {0.5f,           0.166666667f,  0.041666465f,
                                           0.00833331093f, 0.0013933641f, 0.000198909809f};
    float q = polynomial_float(q_coefficients, 6, r);
    float r2 = r * r;
    float quadratic = r2 * q;
    float hi = 1.0f + r;
    float lo = (1.0f - hi) + r;
    float err_term = r_err * hi;
    float tail = lo + (quadratic + err_term);
    float mantissa = hi + tail;
    /* n as an integer from the sum's bits, split as n_low + n_high, n_low = floor(n / 2) (a
     * right shift, arithmetic for negative values in clang and gcc: C11 leaves it to the
     * implementation), both in [-75, 64]. For NaN the factors are some floats, the result
     * NaN. */
    int32_t shifted_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    const int32_t n_int = shifted_bits - 0x4b400000, n_low = n_int >> 1, n_high = n_int - n_low;
    uint32_t bits_low = (uint32_t)(n_low + 127) << 23, bits_high = (uint32_t)(n_high + 127) << 23;
    float scale_low, scale_high;
    memcpy(&scale_low, &bits_low, sizeof scale_low);
    memcpy(&scale_high, &bits_high, sizeof scale_high);
    return (mantissa * scale_low) * scale_high;
}

/* a * b + c: rounded once (fmaf) when fused, else the product rounded first. Always inlined,
 * fused a constant there. */
static inline __attribute__((always_inline)) float multiply_add(float a, float b, float c,
                                                                int fused) {
    if (fused) return fmaf(a, b, c);
    const float product = a * b;
    return product + c;
}

/* log(x) for x = 2^k_offset y, x a positive normal float (the work of log_positive and of
 * log_full_range). x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)) taken from the bits
 * (f = (1 + f) - 1 is exact), and with s = f / (2 + f), |s| <= 0.172:
 *   log(1 + f) = 2 atanh(s) = 2s + s R,  R = 2 (s^2/3 + s^4/5 + s^6/7 + s^8/9) + ...
 * whose truncation error is below 3e-9 relative. As 2s = f - s f, log(1 + f) = f - s (f - R):
 * the rounding errors of s only reach a correction 0.172 times smaller than f. (k - k_offset)
 * ln2 is added with ln2 split in two (k ln2_hi exact). Each product and its sum are one
 * multiply_add (fused or not). +inf gives +inf and NaN stays NaN. */
static inline __attribute__((always_inline)) float log_scaled_normal(float x, int32_t k_offset,
                                                                     int fused) {
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    /* 1 + f: the mantissa with the exponent of 1.0, halved (exponent of 0.5) from sqrt(2) on. */
    uint32_t mantissa = (bits & 0x007fffffu) | 0x3f800000u;
    uint32_t halved = mantissa > 0x3fb504f3u; /* 0x3fb504f3: the float just below sqrt(2) */
    mantissa -= halved << 23;
    float k = (float)((int32_t)(bits >> 23) - 127 + (int32_t)halved - k_offset);
    float m;
    memcpy(&m, &mantissa, sizeof m);
    float f = m - 1.0f, s = f / (m + 1.0f), s2 = s * s;
    float r = 2.0f / 9;
    r = multiply_add(r, s2, 2.0f / 7, fused);
    r = multiply_add(r, s2, 2.0f / 5, fused);
    r = multiply_add(r, s2, 2.0f / 3, fused);
    r = r * s2;
    const float log_mantissa = multiply_add(-s, f - r, f, fused);
    const float result =
        multiply_add(k, ln2_hi, multiply_add(k, ln2_lo, log_mantissa, fused), fused);
    return x <= FLT_MAX ? result : x;
}

/* log(x) for a positive normal x, in plain arithmetic so that loops over it vectorize (libm's
 * logf is a call per element): log_scaled_normal, each product rounded. Checked against log
 * over all positive normal floats: error below 0.96 ulp (logf's: 0.5), so at most 1 ulp from
 * logf. +inf gives +inf and NaN stays NaN; zero, subnormal and negative arguments give
 * meaningless finite values. */
static inline float log_positive(float x) {
    return log_scaled_normal(x, 0, 0);
}

/* log(x) for any float x, as logf: log_scaled_normal with fused multiply-adds (fmaf: a loop
 * over it is compiled with CK_VECTORIZED_FMA, threading.h), a subnormal x first scaled by
 * 2^23 (exact) into the normal range; -inf at +-0, NaN below 0, +inf at +inf, NaN stays NaN.
 * Checked against log over all positive floats: error below 0.96 ulp. */
static inline float log_full_range(float x) {
    int subnormal = x < FLT_MIN;
    float result = log_scaled_normal(subnormal ? x * 0x1p23f : x, subnormal ? 23 : 0, 1);
    return x > 0.0f ? result : x == 0.0f ? -INFINITY : x < 0.0f ? NAN : x;
}

#endif
