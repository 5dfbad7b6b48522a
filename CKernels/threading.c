/* The thread count the kernels use (ck_set_num_threads) and their parallel regions and sums:
 * threading.h. */
#include "ckernels.h"
#include "threading.h"

#include <stdatomic.h>
#include <stdio.h>

/* 0 means "OpenMP's default". */
static atomic_int requested_threads = 0;

/* The smallest ck_max_num_threads(), whatever the processors. */
enum { MAX_THREADS_FLOOR = 256 };

int ck_max_num_threads(void) {
    int processors = omp_get_num_procs();
    return processors > MAX_THREADS_FLOOR ? processors : MAX_THREADS_FLOOR;
}

int ck_set_num_threads(int n) {
    if (n > ck_max_num_threads()) return CK_ERROR_TOO_MANY_THREADS;
    atomic_store(&requested_threads, n > 0 ? n : 0);
    return 0;
}

/* OpenMP's default thread count (OMP_NUM_THREADS when set, otherwise the processors), at most
 * ck_max_num_threads(): a larger one is clamped, with one line on stderr the first time, as
 * libomp warns about a value it cannot use and carries on with one it can. */
static int default_threads(void) {
    int n = omp_get_max_threads();
    if (n < 1) return 1;
    /* Every kernel call asks: a count within the floor needs no count of the processors. */
    if (n <= MAX_THREADS_FLOOR) return n;
    int maximum = ck_max_num_threads();
    if (n <= maximum) return n;
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&warned))
        fprintf(stderr,
                "DeepLearning: OMP_NUM_THREADS asks for %d threads, more than the maximum %d "
                "(256, or the number of processors where that is more); using %d\n",
                n, maximum, maximum);
    return maximum;
}

int ck_get_num_threads(void) {
    /* Inside a parallel region (each thread running a part of a larger kernel on its own, as
     * the convolution's pieces): one, so that no region is nested in it. */
    if (omp_in_parallel()) return 1;
    int n = atomic_load(&requested_threads);
    return n > 0 ? n : default_threads();
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

void ck_parallel_region(int64_t count, int64_t align, int threads, ck_range_body body,
                        const void *args) {
#pragma omp parallel num_threads(threads)
    {
        int64_t begin, end;
        ck_split_range(count, align, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
        body(args, begin, end);
    }
}

enum { SUM_CHUNKS = 64 };

typedef struct {
    int64_t count, chunk;
    ck_range_sum_body body;
    const void *args;
    double *chunk_sums;
} chunked_sum_args;

static void sum_chunks(const void *args, int64_t begin, int64_t end) {
    const chunked_sum_args *a = args;
    for (int64_t c = begin; c < end; c++) {
        int64_t last = (c + 1) * a->chunk < a->count ? (c + 1) * a->chunk : a->count;
        a->chunk_sums[c] = a->body(a->args, c * a->chunk, last);
    }
}

double ck_parallel_sum(int64_t count, int64_t min_chunk, int threads, ck_range_sum_body body,
                       const void *args) {
    if (count <= 0) return 0.0;
    int64_t chunk = (count + SUM_CHUNKS - 1) / SUM_CHUNKS;
    if (chunk < min_chunk) chunk = min_chunk;
    int64_t chunks = (count + chunk - 1) / chunk;
    double chunk_sums[SUM_CHUNKS];
    chunked_sum_args sum_args = {count, chunk, body, args, chunk_sums};
    ck_parallel_for(chunks, 1, threads, sum_chunks, &sum_args);
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) total += chunk_sums[c];
    return total;
}
