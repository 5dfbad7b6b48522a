/* Internal: the maximum of a row of floats in vector lanes, NaN elements passed over, and
 * whether the row holds a NaN. The lanes are vectors of the compiler's vector extension (as
 * many registers as the instruction set needs). A row runs WIDE_LANES elements at a time in
 * WIDE_LANES running maxima, those folded into MAX_LANES, then the rest MAX_LANES at a time
 * in those; the last MAX_LANES that do not fill a block are the row's last MAX_LANES,
 * overlapping the ones before (which a maximum does not mind). The lanes are folded in
 * halves. A row shorter than MAX_LANES runs in order. The value is the maximum's whatever the
 * order, but a zero maximum may have either zero's sign. */
#ifndef CK_ROW_MAX_H
#define CK_ROW_MAX_H

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { MAX_LANES = 8, WIDE_LANES = 32 };

typedef float max_block __attribute__((vector_size(MAX_LANES * sizeof(float))));
typedef int32_t max_mask __attribute__((vector_size(MAX_LANES * sizeof(int32_t))));
typedef float wide_max_block __attribute__((vector_size(WIDE_LANES * sizeof(float))));
typedef int32_t wide_max_mask __attribute__((vector_size(WIDE_LANES * sizeof(int32_t))));

/* Lane by lane, *m = v[k] where it is larger than *m: NaN-blind (*m stays where v[k] is NaN);
 * and the lanes where v[k] is NaN marked in *nan. */
static inline __attribute__((always_inline)) void block_max(max_block *m, max_mask *nan,
                                                            const float *v) {
    max_block block;
    memcpy(&block, v, sizeof block);
    const max_mask greater = block > *m;
    *m = (max_block)((greater & (max_mask)block) | (~greater & (max_mask)*m));
    *nan |= block != block;
}

/* block_max on WIDE_LANES lanes. */
static inline __attribute__((always_inline)) void wide_block_max(wide_max_block *m,
                                                                 wide_max_mask *nan,
                                                                 const float *v) {
    wide_max_block block;
    memcpy(&block, v, sizeof block);
    const wide_max_mask greater = block > *m;
    *m = (wide_max_block)((greater & (wide_max_mask)block) | (~greater & (wide_max_mask)*m));
    *nan |= block != block;
}

/* The maximum of the non-NaN elements of x[0 .. n) (n >= 1; -inf if every one is NaN), and,
 * unless any_nan is NULL, *any_nan = whether one is NaN. Inlined with any_nan constant, so
 * that a caller that passes NULL gets no NaN test (and with n constant, where it is, so that
 * a short row's loops unroll). */
static inline __attribute__((always_inline)) float row_max(int64_t n, const float *x,
                                                           int *any_nan) {
    float m = -INFINITY;
    int nan = 0;
    if (n < MAX_LANES) {
        for (int64_t j = 0; j < n; j++) {
            m = x[j] > m ? x[j] : m;
            nan |= x[j] != x[j];
        }
    } else {
        max_block lane;
        max_mask nan_lanes = {0};
        for (int k = 0; k < MAX_LANES; k++) lane[k] = -INFINITY;
        int64_t j = 0;
        if (n >= WIDE_LANES) {
            wide_max_block wide;
            wide_max_mask wide_nan = {0};
            for (int k = 0; k < WIDE_LANES; k++) wide[k] = -INFINITY;
            for (; j + WIDE_LANES <= n; j += WIDE_LANES) wide_block_max(&wide, &wide_nan, x + j);
            float l[WIDE_LANES];
            memcpy(l, &wide, sizeof l);
            for (int k = 0; k < WIDE_LANES; k += MAX_LANES) block_max(&lane, &nan_lanes, l + k);
            nan = __builtin_reduce_or(wide_nan) != 0;
        }
        for (; j < n; j += MAX_LANES)
            block_max(&lane, &nan_lanes, x + (j + MAX_LANES <= n ? j : n - MAX_LANES));
        float l[MAX_LANES];
        memcpy(l, &lane, sizeof l);
        for (int half = MAX_LANES / 2; half >= 1; half /= 2)
            for (int k = 0; k < half; k++) l[k] = l[k + half] > l[k] ? l[k + half] : l[k];
        m = l[0];
        nan |= __builtin_reduce_or(nan_lanes) != 0;
    }
    if (any_nan) *any_nan = nan;
    return m;
}

#endif
