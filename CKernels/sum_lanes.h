/* Internal: long sums of floats in double that run as vectors. A sum runs in SUM_LANES
 * double partial sums (lanes), the terms taken in blocks of SUM_LANES, term k of each block
 * added to lane k (a last, partial block padded with -0.0), and the lanes are added at the
 * end in a fixed tree (sum_lanes_total). The lanes are one vector of the compiler's vector
 * extension: as many registers as the instruction set needs (two on AVX-512, four on AVX2,
 * eight on SSE2), the same additions in each, so the bits depend on neither the instruction
 * set nor (the order being fixed) the thread count.
 *
 * Rounding: each lane adds in double, as a sum in order does, over a sixteenth of the terms,
 * so the error of the double total is no larger than in order (about n * 2^-53 relative at
 * worst, far below a float's half ulp); the total rounded to float differs from the in-order
 * sum's only when the exact sum lies within that error of a float rounding boundary: rarely,
 * and by one ulp. */
#ifndef CK_SUM_LANES_H
#define CK_SUM_LANES_H

#include <stdint.h>
#include <string.h>

enum { SUM_LANES = 16 };

typedef double sum_lanes __attribute__((vector_size(SUM_LANES * sizeof(double))));
typedef float sum_lanes_block __attribute__((vector_size(SUM_LANES * sizeof(float))));

/* Empty lanes: -0.0 in each, which adding changes nothing (not even the sign of a zero). */
static inline __attribute__((always_inline)) void sum_lanes_begin(sum_lanes *lane) {
    for (int k = 0; k < SUM_LANES; k++) (*lane)[k] = -0.0;
}

/* Adds x[k] to lane k, k < SUM_LANES. */
static inline __attribute__((always_inline)) void sum_lanes_add_block(sum_lanes *lane,
                                                                      const float *x) {
    sum_lanes_block block;
    memcpy(&block, x, sizeof block);
    *lane += __builtin_convertvector(block, sum_lanes);
}

/* Adds term[k] to lane k, k < SUM_LANES: terms already in double. */
static inline __attribute__((always_inline)) void sum_lanes_add_terms(sum_lanes *lane,
                                                                      const double *term) {
    sum_lanes block;
    memcpy(&block, term, sizeof block);
    *lane += block;
}

/* Adds x[0 .. n) to the lanes in blocks. */
static inline __attribute__((always_inline)) void sum_lanes_add(sum_lanes *lane, int64_t n,
                                                                const float *x) {
    int64_t j = 0;
    for (; j + SUM_LANES <= n; j += SUM_LANES) sum_lanes_add_block(lane, x + j);
    if (j == n) return;
    float rest[SUM_LANES];
    for (int k = 0; k < SUM_LANES; k++) rest[k] = j + k < n ? x[j + k] : -0.0f;
    sum_lanes_add_block(lane, rest);
}

/* start + the lanes' total, which is lane k + lane k + 8 for k < 8, then k + 4, k + 2, k + 1
 * (a vector's halves, folded). */
static inline __attribute__((always_inline)) double sum_lanes_total(double start,
                                                                    const sum_lanes *lane) {
    double l[SUM_LANES];
    memcpy(l, lane, sizeof l);
    for (int half = SUM_LANES / 2; half >= 1; half /= 2)
        for (int k = 0; k < half; k++) l[k] += l[k + half];
    return start + l[0];
}

#endif
