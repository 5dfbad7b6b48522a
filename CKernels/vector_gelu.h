/* Internal: GELU, x Phi(x), and its derivative Phi(x) + x phi(x) (Phi the standard normal
 * distribution, phi its density) in double arithmetic rounded once to float, in plain
 * arithmetic so that loops over them vectorize (libm's erff and expf are a call per element).
 * Measured over all floats: GELU within 0.504 ulp of x erfc(-x / sqrt 2) / 2 in double; the
 * derivative within 0.501 ulp for x >= 0 (against double) and, for x < 0, within half an ulp
 * plus 2^-32.4 (Phi(x) + |x| phi(x)) of a long double reference, a bound that grows in ulps
 * near the zero of the sum at x = -0.7518 (0.533 ulp at 0.03 from it). The same bits in every
 * instruction set (no product fused with a sum). */
#ifndef CK_VECTOR_GELU_H
#define CK_VECTOR_GELU_H

#include "double_arithmetic.h"
#include "double_exp.h"

#include <math.h>

/* The standard normal distribution at a float x, in double: Phi(x) and phi(x). */
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
static inline __attribute__((always_inline)) normal_at normal_distribution(float x) {
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

/* The central range |x| <= 3.25, where GELU and its derivative are rational functions of x^2
 * (gelu_central, gelu_gradient_central), and beyond it the wide forms (gelu_wide,
 * gelu_gradient_wide, also for inf and NaN). It holds all but about 0.1% of standard normal
 * inputs. An x is central when magnitude_bits(x) <= CK_GELU_CENTRAL_BITS. */
#define CK_GELU_CENTRAL_BITS 0x40500000u /* 3.25f */

/* 1/2 + x p(w) / q(w) with w = x^2 (exact: x has 24 bits), q monic of degree nq (its nq lower
 * coefficients given), by Horner's rule: the central form of Phi(x) and of Phi(x) + x phi(x). */
static inline double half_plus_odd_rational(const double *p, int np, const double *q, int nq,
                                            float x) {
    double v = x;
    double w = v * v;
    double numerator = polynomial_double(p, np, w);
    double denominator = w + q[nq - 1];
    for (int i = nq - 2; i >= 0; i--) {
        denominator = denominator * w;
        denominator = denominator + q[i];
    }
    double r = numerator / denominator;
    r = r * v;
    return r + 0.5;
}

/* In the central range, Phi(x) = 1/2 + x P(w) / Q(w) with w = x^2, P / Q of degree (5, 5)
 * fitted to (Phi(x) - 1/2) / x with weight x / Phi(-|x|) (relative error of Phi(-|x|) below
 * 2^-32.4; the coefficients are all positive, so that Horner's rule adds no cancellation), and
 * Phi(x) + x phi(x) = 1/2 + x P(w) / Q(w), P / Q of degree (6, 5) fitted with weight
 * x / (Phi(-|x|) + |x| phi(x)) (error below 2^-32.4 of Phi(x) + |x| phi(x)). */
static const double gelu_cdf_numerator[] = {
    301231.53041215107, 23239.464148545405, 3408.042311962535, 106.56405395522943,
    4.880937623968742,  0.02009468741205091};
static const double gelu_cdf_denominator[] = {755075.4704792441, 184098.6157225708,
                                              20348.897050851425, 1303.39858908808,
                                              50.16418433387752};
static const double gelu_slope_numerator[] = {
    404851.7338114344,  -29551.35268324876,   7703.505930807662,    -212.6557136235958,
    15.803154499112283, -0.21446187601908953, 0.0022225492826515162};
static const double gelu_slope_denominator[] = {507406.4010594961, 132098.34388421333,
                                                15632.19760898493, 1077.4106102415947,
                                                45.00940397290747};

/* GELU for |x| <= 3.25: x Phi(x). */
static inline __attribute__((always_inline)) float gelu_central(float x) {
    double v = half_plus_odd_rational(gelu_cdf_numerator, 6, gelu_cdf_denominator, 5, x);
    v = v * x;
    return (float)v;
}

/* dy GELU'(x) for |x| <= 3.25: dy (Phi(x) + x phi(x)). */
static inline __attribute__((always_inline)) float gelu_gradient_central(float x, float dy) {
    double slope = half_plus_odd_rational(gelu_slope_numerator, 7, gelu_slope_denominator, 5, x);
    slope = slope * dy;
    return (float)slope;
}

/* GELU beyond the central range, x Phi(x) by normal_distribution. gelu(+inf) = +inf;
 * gelu(-inf) and NaN give NaN. */
static inline __attribute__((always_inline)) float gelu_wide(float x) {
    double v = normal_distribution(x).cdf * x;
    return (float)v;
}

/* dy GELU'(x) = dy (Phi(x) + x phi(x)) beyond the central range, by normal_distribution. NaN
 * at +-inf, where x phi(x) is inf * 0. */
static inline __attribute__((always_inline)) float gelu_gradient_wide(float x, float dy) {
    normal_at n = normal_distribution(x);
    double slope = n.density * x;
    slope = slope + n.cdf;
    slope = slope * dy;
    return (float)slope;
}

#endif
