/* Internal: elementary functions written in plain arithmetic, so that loops calling them
 * vectorize (libm's are a call per element). */
#ifndef CK_VECTOR_MATH_H
#define CK_VECTOR_MATH_H

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

#endif
