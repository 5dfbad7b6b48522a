/* Internal: tanh of a float in plain arithmetic, so that loops over it vectorize (libm's tanhf
 * is a call per element). */
#ifndef CK_VECTOR_TANH_H
#define CK_VECTOR_TANH_H

#include "double_exp.h"

#include <math.h>

/* tanh(x), computed in double and rounded once to float: tanh|x| = m / (m + 2) with
 * m = e^(2|x|) - 1 = 2^n p + (2^n - 1) (exp_minus_one_reduced: m keeps its relative accuracy
 * near 0, where n = 0), the sign of x copied back. |x| is clamped to 9.1, from where tanh
 * rounds to 1. The double result is within about 2^-35 (relative) of tanh, so the float is
 * the correctly rounded one or, where tanh lies that close to a midpoint of two floats, its
 * neighbour: against double tanh over all positive floats (tanh is odd, and so is this),
 * error at most 0.5001 ulp.
 * ±0, subnormals and ±inf give tanh's values (x, ±1); NaN gives NaN. The same bits in every
 * instruction set (no product fused with a sum). */
static inline float tanh_float(float x) {
    double a = fabs((double)x);
    a = a > 9.1 ? 9.1 : a; /* NaN stays NaN */
    double scale, y = a + a;
    double p = exp_minus_one_reduced(y, &scale);
    double m = scale * p;
    m = m + (scale - 1.0);
    double t = m / (m + 2.0);
    return copysignf((float)t, x);
}

#endif
