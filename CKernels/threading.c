#include "ckernels.h"
#include "threading.h"

#include <stdatomic.h>

/* 0 means "OpenMP's default". */
static atomic_int requested_threads = 0;

void ck_set_num_threads(int n) { atomic_store(&requested_threads, n > 0 ? n : 0); }

int ck_get_num_threads(void) {
    int n = atomic_load(&requested_threads);
    if (n > 0) return n;
    n = omp_get_max_threads();
    return n > 0 ? n : 1;
}

int ck_threads_for(int64_t work, int64_t min_work_per_thread) {
    int64_t useful = work / (min_work_per_thread > 0 ? min_work_per_thread : 1);
    if (useful < 2) return 1; /* without asking OpenMP: the common case of small kernels */
    int threads = ck_get_num_threads();
    return useful < threads ? (int)useful : threads;
}

void ck_split_range(int64_t count, int64_t align, int part, int parts, int64_t *begin,
                    int64_t *end) {
    int64_t units = (count + align - 1) / align;
    int64_t first = units * part / parts, last = units * (part + 1) / parts;
    *begin = first * align < count ? first * align : count;
    *end = last * align < count ? last * align : count;
}

void ck_parallel_for(int64_t count, int64_t align, int threads, ck_range_body body,
                     const void *args) {
    if (threads <= 1) {
        body(args, 0, count);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t begin, end;
        ck_split_range(count, align, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
        body(args, begin, end);
    }
}
