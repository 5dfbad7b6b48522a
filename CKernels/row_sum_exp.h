/* Internal: a row's exponentials e^(z - shift), and the sum of them in sum_lanes.h's partial
 * sums (an order that depends only on the row's length: the same bits on every instruction
 * set). The including file compiles these without contracting a * b + c (FP_CONTRACT OFF), as
 * vector_math.h's exp_nonpositive requires for the same bits everywhere. */
#ifndef CK_ROW_SUM_EXP_H
#define CK_ROW_SUM_EXP_H

#include "sum_lanes.h"
#include "vector_math.h"

#include <stdint.h>

/* e[k] = e^(z[k] - shift) for k in [0, n), shift >= every z[k]. e may be z. */
static inline __attribute__((always_inline)) void shifted_exp(int64_t n, const float *z,
                                                              float shift, float *e) {
#pragma omp simd
#pragma clang loop interleave_count(4)
    for (int64_t k = 0; k < n; k++) e[k] = exp_nonpositive(z[k] - shift);
}

/* The sum of e^(z[j] - max) over j in [0, n) (max >= every z[j]), in partial sums, the
 * exponentials taken `capacity` (a multiple of SUM_LANES) at a time into the buffer e. The
 * same bits as row_sum (sum_lanes.h) over the exponentials of the whole row. */
static inline __attribute__((always_inline)) double row_sum_exp(int64_t n, const float *z,
                                                                float max, int64_t capacity,
                                                                float *e) {
    sum_lanes lane;
    sum_lanes_begin(&lane);
    for (int64_t j = 0; j < n; j += capacity) {
        const int64_t count = n - j < capacity ? n - j : capacity;
        shifted_exp(count, z + j, max, e);
        sum_lanes_add(&lane, count, e, 0);
    }
    return sum_lanes_total(0.0, &lane);
}

#endif
