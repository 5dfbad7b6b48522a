/* Internal: elementary functions written in plain arithmetic, so that loops calling them
 * vectorize (libm's are a call per element). */
#ifndef CK_VECTOR_MATH_H
#define CK_VECTOR_MATH_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x for x <= 0, in plain arithmetic so that loops over it vectorize (libm's expf is a call
 * per element). x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact n ln2), e^r by
 * its Taylor polynomial of degree 7 (truncation error below 1e-8 relative), times 2^n built
 * in the exponent bits. Below -87.3, where 2^n would leave the normal range, the result is 0;
 * NaN stays NaN. Within about 2 ulp of expf. */
static inline float exp_nonpositive(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.42860682030941723212e-6f;
    float n = rintf(x * log2e);
    float r = (x - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* n as an integer only where it is one in range (NaN or x < -87.3 would be UB to convert). */
    int32_t bits = ((int32_t)(x >= -87.3f && x <= 0.0f ? n : 0.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.3f ? 0.0f : p * scale;
}

/* log(x) for a positive normal x, in plain arithmetic so that loops over it vectorize (libm's
 * logf is a call per element). x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)) taken from
 * the bits (f = (1 + f) - 1 is exact), and with s = f / (2 + f), |s| <= 0.172:
 *   log(1 + f) = 2 atanh(s) = 2s + s R,  R = 2 (s^2/3 + s^4/5 + s^6/7 + s^8/9) + ...
 * whose truncation error is below 3e-9 relative. As 2s = f - s f, log(1 + f) = f - s (f - R):
 * the rounding errors of s only reach a correction 0.172 times smaller than f. k ln2 is added
 * with ln2 split in two (k ln2_hi exact). Checked against log over all positive normal floats:
 * error below 0.96 ulp (logf's: 0.5), so at most 1 ulp from logf. +inf gives +inf and NaN
 * stays NaN; zero, subnormal and negative arguments give meaningless finite values. */
static inline float log_positive(float x) {
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    /* 1 + f: the mantissa with the exponent of 1.0, halved (exponent of 0.5) from sqrt(2) on. */
    uint32_t mantissa = (bits & 0x007fffffu) | 0x3f800000u;
    uint32_t halved = mantissa > 0x3fb504f3u; /* 0x3fb504f3: the float just below sqrt(2) */
    mantissa -= halved << 23;
    float k = (float)((int32_t)(bits >> 23) - 127 + (int32_t)halved);
    float m;
    memcpy(&m, &mantissa, sizeof m);
    float f = m - 1.0f, s = f / (m + 1.0f), s2 = s * s;
    float r = 2.0f / 9;
    r = r * s2 + 2.0f / 7;
    r = r * s2 + 2.0f / 5;
    r = r * s2 + 2.0f / 3;
    r = r * s2;
    float result = k * ln2_hi + ((f - s * (f - r)) + k * ln2_lo);
    return x <= FLT_MAX ? result : x;
}

#endif
