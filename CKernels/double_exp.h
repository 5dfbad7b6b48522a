/* Internal: e^y in double arithmetic, for float kernels that compute in double and round once
 * (GELU, pow), in plain arithmetic so that loops over it vectorize. */
#ifndef CK_DOUBLE_EXP_H
#define CK_DOUBLE_EXP_H

#include "double_arithmetic.h"

#include <stdint.h>
#include <string.h>

/* e^y = scale * (1 + p), returning p = e^r - 1 and setting *scale = 2^n, for |y| <= 700 (NaN
 * gives NaN and a meaningless scale). y = n ln2 + r with n = round(y / ln2) (nearest_integer,
 * whose bits give 2^n without a conversion), |r| <= ln2 / 2; n ln2 is rounded once, an
 * absolute error below 2^-45 in r for |y| <= 700. e^r - 1 = r + r^2 P(r), P a least-squares
 * fit of degree 6 on |r| <= ln2 / 2: relative error below 6e-12. The same bits in every
 * instruction set. */
static inline double exp_minus_one_reduced(double y, double *scale) {
    const double log2e = 1.4426950408889634, ln2 = 0.6931471805599453;
    double n = y * log2e;
    uint64_t bits;
    n = nearest_integer(n, &bits);
    double r = n * ln2;
    r = y - r;
    static const double coefficients[] = {0.5000000000181039,     0.16666666756104503,
                                          0.04166666554993404,    0.008333288561213433,
                                          0.0013889044839311146,  0.00019905196331043026,
                                          2.4770116288218968e-05};
    double p = polynomial_double(coefficients, 7, r);
    double r2 = r * r;
    p = p * r2;
    p = p + r;
    /* n + 1023 (n's two's complement bits are the low bits of `bits`) shifted into the
     * exponent field, the bits above it shifted out: 2^n, for -1022 <= n <= 1023. */
    uint64_t scale_bits = (bits + 1023) << 52;
    memcpy(scale, &scale_bits, sizeof *scale);
    return p;
}

#endif
