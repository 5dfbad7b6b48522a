/* Internal: long sums of floats in double that run as vectors. A sum runs in SUM_LANES
 * double partial sums (lanes) and one more (the rest): the terms taken in blocks of
 * SUM_LANES, term k of each block added to lane k; terms that do not fill a block (a row's
 * last n % SUM_LANES) added to the rest in order. The total is start, plus the lanes added
 * in a fixed tree, plus the rest (sum_lanes_total). The lanes are one vector of the
 * compiler's vector extension: as many registers as the instruction set needs (two on
 * AVX-512, four on AVX2, eight on SSE2), the same additions in each, so the bits depend on
 * neither the instruction set nor (the order being fixed) the thread count. A sum of fewer
 * than SUM_LANES terms is a sum in order.
 *
 * Rounding: each partial sum adds in double, as a sum in order does, over at most a
 * sixteenth of the terms, so the error of the double total is no larger than in order
 * (about n * 2^-53 relative at worst, far below a float's half ulp); the total rounded to
 * float differs from the in-order sum's only when the exact sum lies within that error of a
 * float rounding boundary: rarely, and by one ulp. */
#ifndef CK_SUM_LANES_H
#define CK_SUM_LANES_H

#include <stdint.h>
#include <string.h>

enum { SUM_LANES = 16 };

typedef double sum_lanes_vector __attribute__((vector_size(SUM_LANES * sizeof(double))));
typedef float sum_lanes_block __attribute__((vector_size(SUM_LANES * sizeof(float))));

typedef struct {
    sum_lanes_vector lane;
    double rest;
} sum_lanes;

/* Empty partial sums: -0.0 in each, which adding changes nothing (not even the sign of a
 * zero). */
static inline __attribute__((always_inline)) void sum_lanes_begin(sum_lanes *s) {
    for (int k = 0; k < SUM_LANES; k++) s->lane[k] = -0.0;
    s->rest = -0.0;
}

/* Sets (*terms)[k] to x[k] * b[k] in double, k < SUM_LANES, or to x[k] if b is NULL: one
 * block's terms. A product of two floats is exact in double, so whether it is fused with an
 * addition changes no bit. Written through a pointer, not returned: at each call from an AVX2
 * or baseline clone, clang warns (-Wpsabi) that a vector of 16 doubles returned by value may
 * be passed otherwise with AVX-512 than without, though no call remains once inlined. */
static inline __attribute__((always_inline)) void sum_lanes_terms(sum_lanes_vector *terms,
                                                                  const float *x,
                                                                  const float *b) {
    sum_lanes_block x_block;
    memcpy(&x_block, x, sizeof x_block);
    *terms = __builtin_convertvector(x_block, sum_lanes_vector);
    if (b) {
        sum_lanes_block b_block;
        memcpy(&b_block, b, sizeof b_block);
        *terms *= __builtin_convertvector(b_block, sum_lanes_vector);
    }
}

/* Adds x[k] * b[k] to lane k, k < SUM_LANES, or x[k] if b is NULL. */
static inline __attribute__((always_inline)) void sum_lanes_add_products_block(
    sum_lanes *s, const float *x, const float *b) {
    sum_lanes_vector terms;
    sum_lanes_terms(&terms, x, b);
    s->lane += terms;
}

/* Adds x[k] to lane k, k < SUM_LANES. */
static inline __attribute__((always_inline)) void sum_lanes_add_block(sum_lanes *s,
                                                                      const float *x) {
    sum_lanes_add_products_block(s, x, 0);
}

/* Adds term[k] to lane k, k < SUM_LANES: terms already in double. */
static inline __attribute__((always_inline)) void sum_lanes_add_terms(sum_lanes *s,
                                                                      const double *term) {
    sum_lanes_vector block;
    memcpy(&block, term, sizeof block);
    s->lane += block;
}

/* Adds x[0 .. n), each times b[j] unless b is NULL: the full blocks to the lanes, the last
 * n % SUM_LANES terms to the rest. Inlined with b constant, so that each caller gets one of
 * the two loops. */
static inline __attribute__((always_inline)) void sum_lanes_add(sum_lanes *s, int64_t n,
                                                                const float *x, const float *b) {
    int64_t j = 0;
    for (; j + SUM_LANES <= n; j += SUM_LANES) {
        if (b) sum_lanes_add_products_block(s, x + j, b + j);
        else sum_lanes_add_block(s, x + j);
    }
    for (; j < n; j++) s->rest += b ? (double)x[j] * b[j] : x[j];
}

/* (start + the lanes' total) + the rest. The lanes' total is lane k + lane k + 8 for k < 8,
 * then k + 4, k + 2, k + 1 (a vector's halves, folded): each step one addition of two
 * vectors of halves the size. */
static inline __attribute__((always_inline)) double sum_lanes_total(double start,
                                                                    const sum_lanes *s) {
    _Static_assert(SUM_LANES == 16, "the shuffles below fold 16 lanes");
    typedef double lanes8 __attribute__((vector_size(8 * sizeof(double))));
    typedef double lanes4 __attribute__((vector_size(4 * sizeof(double))));
    typedef double lanes2 __attribute__((vector_size(2 * sizeof(double))));
    const lanes8 l8 = __builtin_shufflevector(s->lane, s->lane, 0, 1, 2, 3, 4, 5, 6, 7) +
                      __builtin_shufflevector(s->lane, s->lane, 8, 9, 10, 11, 12, 13, 14, 15);
    const lanes4 l4 = __builtin_shufflevector(l8, l8, 0, 1, 2, 3) +
                      __builtin_shufflevector(l8, l8, 4, 5, 6, 7);
    const lanes2 l2 = __builtin_shufflevector(l4, l4, 0, 1) + __builtin_shufflevector(l4, l4, 2, 3);
    return (start + (l2[0] + l2[1])) + s->rest;
}

/* The sum of x[0 .. n) (each times b[j] unless b is NULL) from +0, in partial sums: the sum
 * of a row of a matrix, or of a range. The first block's terms are taken as the lanes instead
 * of being added to empty ones: the same bits (-0.0 + v is v for every v), one vector addition
 * fewer per row. Inlined with b constant, as sum_lanes_add. */
static inline __attribute__((always_inline)) double row_sum(int64_t n, const float *x,
                                                            const float *b) {
    sum_lanes lane;
    sum_lanes_begin(&lane);
    int64_t first = 0;
    if (n >= SUM_LANES) {
        sum_lanes_terms(&lane.lane, x, b);
        first = SUM_LANES;
    }
    sum_lanes_add(&lane, n - first, x + first, b ? b + first : 0);
    return sum_lanes_total(0.0, &lane);
}

#endif
