/* The machine's peak single-precision FMA rate: CHAINS independent multiply-add chains per
 * thread, enough to cover the FMA latency on every pipe (4 cycles x 2 pipes = 8 in flight on
 * current x86), so the loop is bound by FMA throughput alone. Compiled without -march: each
 * loop carries its instruction set in a target attribute and runs only when the CPU has it. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include "benchmark_support.h"

#include <pthread.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { CHAINS = 12 };

/* Where results go so that the loops are not optimized away. */
static volatile float sink;

/* The loops' starting values and factors, read through volatile so that the compiler cannot
 * fold a chain: with constants, it could find a chain that starts at a fixed point of
 * acc * factor + term invariant and hoist it out of the loop, which would then run fewer
 * chains than are counted. */
static volatile float start_values[CHAINS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static volatile float factor = 0.999999f, term = 1e-6f;

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#if defined(__x86_64__)
/* acc = acc * factor + term stays near 1: no overflow, no denormals. */
__attribute__((target("avx512f,fma"))) static void chains_avx512(int64_t iterations) {
    const __m512 x = _mm512_set1_ps(factor), y = _mm512_set1_ps(term);
    __m512 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps(start_values[c]);
    for (int64_t i = 0; i < iterations; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm512_add_ps(acc[0], acc[c]);
    sink = _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) static void chains_avx2(int64_t iterations) {
    const __m256 x = _mm256_set1_ps(factor), y = _mm256_set1_ps(term);
    __m256 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps(start_values[c]);
    for (int64_t i = 0; i < iterations; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
    float lanes[8];
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm256_add_ps(acc[0], acc[c]);
    _mm256_storeu_ps(lanes, acc[0]);
    sink = lanes[0] + lanes[7];
}
#endif

int bench_isa_supported(bench_isa isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (isa) {
    case BENCH_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case BENCH_ISA_AVX512: return __builtin_cpu_supports("avx512f") != 0;
    }
#endif
    (void)isa;
    return 0;
}

typedef struct {
    bench_isa isa;
    int64_t iterations;
} peak_job;

static void *run_chains(void *argument) {
    const peak_job *job = argument;
#if defined(__x86_64__)
    if (job->isa == BENCH_ISA_AVX512)
        chains_avx512(job->iterations);
    else
        chains_avx2(job->iterations);
#endif
    return NULL;
}

/* Wall-clock seconds for `threads` threads (the caller and threads - 1 others) to each run
 * the loop `iterations` times. */
static double time_threads(peak_job job, int threads) {
    pthread_t others[threads > 1 ? threads - 1 : 1];
    const double start = seconds_now();
    for (int t = 0; t < threads - 1; t++) pthread_create(&others[t], NULL, run_chains, &job);
    run_chains(&job);
    for (int t = 0; t < threads - 1; t++) pthread_join(others[t], NULL);
    return seconds_now() - start;
}

double bench_fma_peak_gflops(bench_isa isa, int threads, double seconds, int trials) {
    if (!bench_isa_supported(isa) || threads < 1) return 0.0;
    const int lanes = isa == BENCH_ISA_AVX512 ? 16 : 8;
    /* Iterations for `seconds`, from a short single-thread run. */
    peak_job job = {isa, 1 << 16};
    const double probe = time_threads(job, 1);
    job.iterations = (int64_t)((double)job.iterations * seconds / (probe > 0 ? probe : 1e-6)) + 1;
    const double flops = 2.0 * lanes * CHAINS * (double)job.iterations * threads;
    double best = 0.0;
    for (int trial = 0; trial < trials; trial++) {
        const double rate = flops / time_threads(job, threads) * 1e-9;
        if (rate > best) best = rate;
    }
    return best;
}
