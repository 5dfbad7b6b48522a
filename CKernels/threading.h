/* Internal: how kernels decide whether to open a parallel region and with how many threads. */
#ifndef CK_THREADING_H
#define CK_THREADING_H

#include <stdint.h>

/* Swift's clang ships no omp.h: the OpenMP runtime calls the kernels use. */
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

/* Element-wise kernels open a parallel region only from this many elements on: below it,
 * fork/join (about 1 us back-to-back, 10-20 us after an idle pause) costs more than it saves. */
#define CK_PARALLEL_MIN_ELEMENTS ((int64_t)1 << 15)

/* The number of threads worth using for `work` units, when one thread should get at least
 * `min_work_per_thread` of them: 1 (no parallel region) up to ck_get_num_threads(). */
int ck_threads_for(int64_t work, int64_t min_work_per_thread);

/* [begin, end) of part `part` out of `parts` equal contiguous shares of 0..<count, every
 * boundary a multiple of `align` (except count itself). */
void ck_split_range(int64_t count, int64_t align, int part, int parts, int64_t *begin,
                    int64_t *end);

#endif
