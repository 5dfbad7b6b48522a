/* C helpers of the kernel benchmarks: what must not be written in Swift (the FMA peak, which
 * needs target attributes), the references the kernels are compared with, and a way to wait
 * until no other thread of the process is spinning. */
#ifndef BENCHMARK_SUPPORT_H
#define BENCHMARK_SUPPORT_H

#include <stdint.h>

/* ---- FMA peak (peak.c) ---------------------------------------------------------------- */

/* Instruction sets of the peak loop. */
typedef enum { BENCH_ISA_AVX2 = 1, BENCH_ISA_AVX512 = 2 } bench_isa;

/* Whether this CPU runs the ISA's peak loop: 1 or 0. */
int bench_isa_supported(bench_isa isa);

/* Peak single-precision GFLOP/s (an FMA counts 2) of `threads` threads each running
 * independent FMA chains for about `seconds`: the best of `trials` timed runs. 0 when the
 * CPU lacks the ISA. */
double bench_fma_peak_gflops(bench_isa isa, int threads, double seconds, int trials);

/* ---- References (reference.c): plain loops, one thread, compiled -O3 ------------------- */

/* C = op(A) * op(B), m x n, as ck_sgemm with alpha 1 and beta 0: for every (i, j) a dot
 * product over p. The textbook triple loop, no blocking. */
void bench_naive_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                       int64_t ldc);

/* The element-wise kernels of ckernels.h written as one serial loop each (dense operands). */
void bench_serial_bias_add(int64_t rows, int64_t cols, float *x, const float *bias);
void bench_serial_relu_forward(int64_t n, const float *x, float *y);
void bench_serial_relu_backward(int64_t n, const float *y, const float *dy, float *dx);
float bench_serial_softmax_cross_entropy(int64_t rows, int64_t classes, const float *logits,
                                         const int32_t *labels, float *dlogits);
void bench_serial_sgd_momentum(int64_t n, float *param, const float *grad, float *velocity,
                               float lr, float momentum, float weight_decay);

/* ---- Idle threads (idle.c) ------------------------------------------------------------- */

/* Waits until no other thread of this process is running or runnable (OpenMP and OpenBLAS
 * workers spin for a while after a parallel call, on the core the next measurement needs),
 * polling /proc/self/task every millisecond, for at most max_seconds. Returns the seconds
 * waited. */
double bench_wait_for_idle_threads(double max_seconds);

/* The seconds bench_wait_for_idle_threads has waited in total. */
double bench_total_idle_wait(void);

#endif
