/* Internal: x^p for an exponent p that is the same for a whole loop, as powf but in plain
 * arithmetic so that the loop vectorizes: the exponents with an exact arithmetic form by it,
 * any other by e^(p log|x|) in double. Each product and sum is its own statement (no fused
 * multiply-add): the same bits in every instruction set. */
#ifndef CK_POWER_H
#define CK_POWER_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "double_arithmetic.h"
#include "double_exp.h"

/* How x^p is computed, decided once for a loop by pow_form_of(p). The results have powf's
 * special values (C's Annex F). One float operation (x x, 1 / x, sqrt) rounds correctly; the
 * forms in double are within 0.5 ulp plus the double's error when rounded to float: e^(p
 * log|x|) checked against pow in double for 35 exponents over every 29th float and for 26
 * million random pairs, error below 0.50003 ulp; x^-2 and x^-3 over every float, below
 * 0.5000001 ulp; the products of pow_product below 0.50000002 ulp by their bound. The loops
 * of x^-n for n in [2, 15] (unary.c) take these forms only where inverse_power_in_range(x, n)
 * does not hold, and inverse_power_fused (below 0.50002 ulp by its bound) where it does. */
typedef enum {
    POW_ONE,             /* p = 0: 1, even for NaN */
    POW_IDENTITY,        /* p = 1: x */
    POW_SQUARE,          /* p = 2: x x */
    POW_CUBE,            /* p = 3: x x x in double (x x exact) */
    POW_RECIPROCAL,      /* p = -1: 1 / x */
    POW_INVERSE_SQUARE,  /* p = -2: 1 / (x x) in double (x x exact), +inf at +-0 */
    POW_INVERSE_CUBE,    /* p = -3: 1 / (x x x) in double (x x exact), +-inf at +-0 */
    POW_SQRT,            /* p = 1/2: sqrt(x), +0 at -0, +inf at -inf */
    POW_INVERSE_SQRT,    /* p = -1/2: 1 / sqrt(x) in double, +inf at -0, +0 at -inf */
    POW_PRODUCT,         /* p an integer in [4, 15]: products in double (pow_product) */
    POW_INVERSE_PRODUCT, /* p an integer in [-15, -4]: 1 / the product (pow_product) */
    POW_EVEN,            /* p an even integer or infinite: |x|^p */
    POW_ODD,             /* p an odd integer: |x|^p with the sign of x */
    POW_NON_INTEGER,     /* p not an integer, or NaN: |x|^p, NaN for a finite x < 0 */
} pow_form;

/* p is a double so that the backward pass can pass a float exponent minus 1 exactly (in float,
 * 2^24 + 2 - 1 would round to the even 2^24). */
static inline pow_form pow_form_of(double p) {
    if (p == 0.0) return POW_ONE;
    if (p == 1.0) return POW_IDENTITY;
    if (p == 2.0) return POW_SQUARE;
    if (p == 3.0) return POW_CUBE;
    if (p == -1.0) return POW_RECIPROCAL;
    if (p == -2.0) return POW_INVERSE_SQUARE;
    if (p == -3.0) return POW_INVERSE_CUBE;
    if (p == 0.5) return POW_SQRT;
    if (p == -0.5) return POW_INVERSE_SQRT;
    if (!(p == trunc(p))) return POW_NON_INTEGER; /* NaN too */
    if (fabs(p) < 16.0) return p > 0.0 ? POW_PRODUCT : POW_INVERSE_PRODUCT;
    /* From 2^53 on (and at infinity) every double is even. */
    return fabs(p) < 0x1p53 && (int64_t)p % 2 != 0 ? POW_ODD : POW_EVEN;
}

/* log(a) for a double a that is a positive finite float (normal as a double), relative error
 * below 1e-13: a = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), s = f / (2 + f),
 * |s| <= 0.172, log(1 + f) = 2 atanh(s) = 2s + 2s^3/3 + ... + 2s^15/15 (truncation error below
 * 4e-14 relative), plus k ln2. */
static inline __attribute__((always_inline)) double log_of_float_magnitude(double a) {
    const double ln2 = 0.69314718055994530942, two_52 = 0x1p52;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    /* 1 + f: the mantissa with the exponent of 1.0, halved from sqrt(2) on. */
    uint64_t mantissa = (bits & 0x000fffffffffffffu) | 0x3ff0000000000000u;
    uint64_t halved = mantissa > 0x3ff6a09e667f3bccu; /* the double just below sqrt(2) */
    mantissa -= halved << 52;
    /* k + 1023 + 2^52 as a double, from its bits (no 64-bit integer conversion). */
    uint64_t k_bits = ((bits >> 52) + halved) | 0x4330000000000000u;
    double k_shifted, m;
    memcpy(&k_shifted, &k_bits, sizeof k_shifted);
    memcpy(&m, &mantissa, sizeof m);
    double k = (k_shifted - two_52) - 1023.0;
    double f = m - 1.0, s = f / (m + 1.0), s2 = s * s;
    static const double r_coefficients[] = {2.0 / 3,  2.0 / 5,  2.0 / 7, 2.0 / 9,
                                            2.0 / 11, 2.0 / 13, 2.0 / 15};
    double r = polynomial_double(r_coefficients, 7, s2);
    r = r * s2;
    double two_s = 2.0 * s, sr = s * r, k_ln2 = k * ln2;
    return k_ln2 + (two_s + sr);
}

/* e^z for a double z in [-104, 89] (or NaN), relative error below 1e-11: scale (1 + p) from
 * exp_minus_one_reduced. */
static inline __attribute__((always_inline)) double exp_for_float(double z) {
    double scale;
    double e = exp_minus_one_reduced(z, &scale);
    e = e + 1.0;
    return e * scale;
}

/* x^n for an integer n in [4, 15] as the product in double of those of x, x^2, x^4 and x^8
 * that n's binary digits select (x x exact; n a constant where the caller inlines it, so that
 * the powers it does not select are never formed), and x^-n as 1 / x^n in double: at most five
 * roundings in double, six with the division, that compound to a relative error below 8 2^-53
 * (9e-16; x^4 rounds once, x^8 thrice, x^15 seven times), so that the float is within 0.5 +
 * 8 2^-29 ulp (0.50000002), as well where x^n leaves float's
 * range: it overflows to inf in double only from 2^1024, rounds to 0 or a double subnormal
 * only below 2^-1022, where the float is inf, 0 or their inverses anyway. Products of
 * powers of one x give powf's signed zeros, infinities and NaN. */
static inline __attribute__((always_inline)) double pow_product(float x, double n) {
    const int bits = (int)n;
    const double x1 = x, x2 = x1 * x1, x4 = x2 * x2, x8 = x4 * x4;
    const double low = (bits & 1 ? x1 : 1.0) * (bits & 2 ? x2 : 1.0);
    const double high = (bits & 4 ? x4 : 1.0) * (bits & 8 ? x8 : 1.0);
    return low * high;
}

/* |x|^p for p not 0 (nor an integer in [-15, 15], +-1/2, which have their forms), as
 * e^(p log|x|) in double, rounded to float once: powf's values at |x| = 0, 1, +inf and NaN and
 * for infinite or NaN p. Below -104 (or from 89 on) p log|x| gives +0 (+inf). */
static inline __attribute__((always_inline)) float pow_magnitude(float x, double p) {
    double a = fabs((double)x);
    double log_a = log_of_float_magnitude(a);
    log_a = a > 0.0 && a < INFINITY ? log_a : a == 0.0 ? -INFINITY : a; /* +inf, NaN stay */
    double z = a == 1.0 ? 0.0 : p * log_a; /* 1^p = 1 even for infinite or NaN p */
    z = z < -104.0 ? -104.0 : z > 89.0 ? 89.0 : z;
    return (float)exp_for_float(z);
}

/* x^p for p of the given form (pow_form_of(p)). */
static inline __attribute__((always_inline)) float pow_by_form(pow_form form, float x,
                                                                double p) {
    switch (form) {
    case POW_ONE: return 1.0f;
    case POW_IDENTITY: return x;
    case POW_SQUARE: return x * x;
    case POW_CUBE: return (float)((double)x * x * x);
    case POW_RECIPROCAL: return 1.0f / x;
    case POW_INVERSE_SQUARE: return (float)(1.0 / ((double)x * x));
    case POW_INVERSE_CUBE: return (float)(1.0 / ((double)x * x * x));
    /* __builtin_elementwise_sqrt: sqrt without errno, so that the loop vectorizes. */
    case POW_SQRT: return x == -INFINITY ? INFINITY : __builtin_elementwise_sqrt(x) + 0.0f;
    case POW_INVERSE_SQRT: {
        double root = __builtin_elementwise_sqrt((double)x) + 0.0;
        return (float)(1.0 / (x == -INFINITY ? INFINITY : root));
    }
    case POW_PRODUCT: return (float)pow_product(x, p);
    case POW_INVERSE_PRODUCT: return (float)(1.0 / pow_product(x, -p));
    case POW_EVEN: return pow_magnitude(x, p);
    case POW_ODD: return copysignf(pow_magnitude(x, p), x);
    default: /* POW_NON_INTEGER */
        return x < 0.0f && x > -INFINITY ? NAN : pow_magnitude(x, p);
    }
}

/* A float pair hi + lo that holds a value to about twice float's precision (lo within about
 * 2^-23 |hi|), for the powers of inverse_power_fused. The products' rounding errors are
 * exact by fused multiply-adds (fmaf: one rounding on every instruction set), valid while the
 * products stay from 2^-103 (where the error of a product of floats is still a float) to 2^127
 * in magnitude. */
typedef struct {
    float hi, lo;
} float_pair;

/* r r exactly. */
static inline __attribute__((always_inline)) float_pair float_square(float r) {
    const float hi = r * r;
    return (float_pair){hi, fmaf(r, r, -hi)};
}

/* a a, a.lo^2 and the rounding of lo's terms left out: a relative error below 2^-46 plus
 * twice a's. */
static inline __attribute__((always_inline)) float_pair pair_square(float_pair a) {
    const float hi = a.hi * a.hi, twice = a.hi + a.hi;
    const float lo = fmaf(twice, a.lo, fmaf(a.hi, a.hi, -hi));
    return (float_pair){hi, lo};
}

/* a r for a float r: a relative error below 2^-47 plus a's and r's. */
static inline __attribute__((always_inline)) float_pair pair_times_float(float_pair a, float r) {
    const float hi = a.hi * r;
    const float lo = fmaf(a.lo, r, fmaf(a.hi, r, -hi));
    return (float_pair){hi, lo};
}

/* a b, a.lo b.lo and the rounding of lo's terms left out: a relative error below 2^-46 plus
 * a's and b's. */
static inline __attribute__((always_inline)) float_pair pair_product(float_pair a, float_pair b) {
    const float hi = a.hi * b.hi;
    const float lo = fmaf(a.hi, b.lo, fmaf(a.lo, b.hi, fmaf(a.hi, b.hi, -hi)));
    return (float_pair){hi, lo};
}

/* Whether |x| is in [2^-floor(127/n), 2^floor(100/n)), where inverse_power_fused(x, n)
 * holds: there r = 1 / x is normal and r^k stays within [2^-103, 2^127] for every k <= n
 * (the range of float_pair). Not for +-0, subnormals, +-inf or NaN. */
static inline __attribute__((always_inline)) int inverse_power_in_range(float x, int n) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    const uint32_t magnitude = bits & 0x7fffffffu;
    const uint32_t low = (uint32_t)(127 - 127 / n) << 23, high = (uint32_t)(127 + 100 / n) << 23;
    return magnitude - low < high - low;
}

/* x^-n for an integer n in [2, 15] and x in inverse_power_in_range(x, n), in float arithmetic
 * with a float division and fused multiply-adds rather than a division in double: r = 1 / x
 * (rounded to nearest), e = 1 - x r exactly (the remainder of a rounded reciprocal is a
 * float), so that x^-n = r^n (1 - e)^-n = r^n (1 + n e + n(n+1)/2 e^2 + ...) with |e| <=
 * 2^-24. r^n as a float_pair from r, r^2, r^4 and r^8 (n's binary digits; n a constant where
 * the caller inlines it, so that the powers it does not select are never formed): relative
 * error below 7 2^-46 (n = 15). Then hi + (hi n e + lo), rounded once: the truncation (below
 * n(n+1)/2 2^-48), the roundings of n e (at most three sums, below 3 2^-44) and of the fused
 * sum (below 2^-44) and lo n e (below 2^-43) add a relative error below 2^-40 to the last
 * rounding: within 0.5 + 2^-16 ulp (0.500016) for every n up to 15. */
static inline __attribute__((always_inline)) float inverse_power_fused(float x, int n) {
    const float r = 1.0f / x;
    const float e = fmaf(-x, r, 1.0f);
    const float_pair two = float_square(r);
    const float_pair four = n & 12 ? pair_square(two) : two;
    const float_pair eight = n & 8 ? pair_square(four) : four;
    /* The selected powers' product, highest first, r last (a float). */
    float_pair power = n & 8 ? eight : n & 4 ? four : two;
    if ((n & 8) && (n & 4)) power = pair_product(power, four);
    if ((n & 12) && (n & 2)) power = pair_product(power, two);
    if (n & 1) power = pair_times_float(power, r);
    /* n e as a sum of e, 2e, 4e and 8e (additions rather than a product: the multipliers are
     * the busier units; the doublings are exact). */
    const float e2 = e + e, e4 = e2 + e2, e8 = e4 + e4;
    float ne = n & 8 ? e8 : n & 4 ? e4 : n & 2 ? e2 : e;
    if ((n & 8) && (n & 4)) ne = ne + e4;
    if ((n & 12) && (n & 2)) ne = ne + e2;
    if ((n & 14) && (n & 1)) ne = ne + e;
    const float correction = fmaf(power.hi, ne, power.lo);
    return power.hi + correction;
}

/* x^q inside the gradient p x^(p-1) dy, q = p - 1 of the given form (pow_form_of(q)): as
 * pow_by_form, except that x^-2 and x^-1/2 divide in float rather than in double, one division
 * where the gradient's products round anyway. x^-2 is (1 / x)^2: within 1.91 ulp (the largest
 * error over every float), also where x x leaves float's range, since it forms no x x:
 * subnormal for |x| from 2^63, infinite below 2^-64 (PyTorch's 1 / (x x) is 0 from 2^64 on);
 * the gradient of x^-1 is then within 3.5 ulp (3.46 the largest over 2e8 random x in [-4, 4]
 * and dy in [-1, 1]). x^-1/2 is 1 / sqrt(x): within 1.49 ulp, the gradient of x^(1/2) within
 * 2 ulp (1.98). The same special values as pow_by_form. */
static inline __attribute__((always_inline)) float pow_for_gradient(pow_form form, float x,
                                                                     double q) {
    switch (form) {
    case POW_INVERSE_SQUARE: {
        const float r = 1.0f / x;
        return r * r;
    }
    case POW_INVERSE_SQRT: return 1.0f / pow_by_form(POW_SQRT, x, 0.5);
    default: return pow_by_form(form, x, q);
    }
}

#endif
