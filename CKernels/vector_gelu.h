/* Internal: GELU's standard normal distribution in plain arithmetic, so that loops over it
 * vectorize (libm's erff and expf are a call per element). */
#ifndef CK_VECTOR_GELU_H
#define CK_VECTOR_GELU_H

#include "double_arithmetic.h"
#include "double_exp.h"

#include <math.h>

/* The standard normal distribution at a float x, in double: Phi(x), its cumulative
 * distribution, and phi(x), its density. */
typedef struct {
    double cdf, density;
} normal_at;

/* Phi(x) from the upper tail Q(a) = Phi(-a), a = |x|: Phi(x) = Q(a) for x < 0, 1 - Q(a) above
 * (no cancellation: Q <= 1/2), so that Phi keeps its relative accuracy far into the lower tail.
 * Q(a) = phi(a) sqrt(2 pi) t P(2t - 1) with t = 4 / (4 + a), P a least-squares fit of degree
 * 11 of Q(a) e^(a^2/2) / t on a in [0, 15] (relative error below 2.4e-10); phi(a) =
 * e^(-a^2/2) / sqrt(2 pi) by exp_minus_one_reduced, a^2 / 2 exact (a has 24 bits). Above 15
 * (where x Phi(x) and x phi(x) are below half the smallest float), Q = phi = 0. NaN gives NaN.
 * The same bits in every instruction set (no product fused with a sum). */
static inline normal_at normal_distribution(float x) {
    double a = fabs((double)x);
    double clamped = a > 15.0 ? 15.0 : a; /* keeps exp_minus_one_reduced in its range */
    double y = clamped * clamped;
    y = y * -0.5;
    double scale;
    double e = exp_minus_one_reduced(y, &scale);
    e = e * scale;
    e = e + scale; /* e^(-a^2/2) */
    double t = 4.0 / (4.0 + clamped);
    double s = t + t;
    s = s - 1.0;
    static const double coefficients[] = {
        0.18882128264200343,    0.15197416023877508,     0.09678434499842331,
        0.04663047425787704,    0.015099252698765662,    0.0018849099311004773,
        -0.0008707224711777042, -0.0004067394926789539,  3.5755420874526235e-05,
        5.4480386933216005e-05, -3.0387844887357088e-06, -4.1599442068629845e-06};
    double p = polynomial_double(coefficients, 12, s);
    double tail = p * t;
    tail = tail * e;
    normal_at n;
    n.density = a > 15.0 ? 0.0 : e * 0.3989422804014327; /* 1 / sqrt(2 pi) */
    tail = a > 15.0 ? 0.0 : tail;
    n.cdf = x < 0.0f ? tail : 1.0 - tail;
    return n;
}

/* GELU, x Phi(x), rounded once to float: against x erfc(-x / sqrt 2) / 2 in double over all
 * floats, error at most 0.504 ulp. gelu(+inf) = +inf; gelu(-inf) and NaN give NaN. */
static inline float gelu_float(float x) {
    double v = normal_distribution(x).cdf * x;
    return (float)v;
}

/* dy GELU'(x) = dy (Phi(x) + x phi(x)), rounded once to float: with dy = 1, against a long
 * double reference on every 7th float of |x| <= 16, error at most 0.51 ulp, except near the
 * zero at x = -0.75, where it stays below 2^-26 (Phi(x) + |x| phi(x)). NaN at ±inf, where
 * x phi(x) is inf * 0. */
static inline float gelu_gradient_float(float x, float dy) {
    normal_at n = normal_distribution(x);
    double slope = n.density * x;
    slope = slope + n.cdf;
    slope = slope * dy;
    return (float)slope;
}

#endif
