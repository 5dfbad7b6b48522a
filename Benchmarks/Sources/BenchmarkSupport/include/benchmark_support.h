/* C helpers of the kernel benchmarks: what must not be written in Swift (the FMA peak, which
 * needs target attributes), the references the kernels are compared with, variants of the
 * GEMM's table, and a way to wait until no other thread of the process is spinning. */
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
void bench_serial_sgd(int64_t n, float *param, const float *grad, float lr, float weight_decay);
/* Max pooling of 2 x 2 windows, stride 2, over `planes` planes of side x side (side even):
 * y and argmax (the maximum's index in its plane) of each window, the first maximum. */
void bench_serial_max_pool_2x2(int64_t planes, int64_t side, const float *x, float *y,
                               int64_t *argmax);
/* im2col (to_images == 0: columns from images) or col2im (images zeroed, then every column
 * element added to the image pixel it was copied from) of 3 x 3 windows, stride 1, padding 1,
 * over batch x channels planes of side x side, in ck_im2col's layout. */
void bench_serial_convolution_columns(int64_t batch, int64_t channels, int64_t side,
                                      int to_images, float *images, float *columns);

/* ---- Intel MKL, loaded at run time (mkl.c) -------------------------------------------- */

/* Loads MKL's single dynamic library: the file named by the environment variable MKL_RT,
 * else libmkl_rt.so.3 or .so.2 on the library path, else in $VIRTUAL_ENV/lib (PyPI's `mkl`
 * package installs it there). Sets MKL_THREADING_LAYER=INTEL first unless it is set (MKL's
 * OpenMP layer then shares the process's OpenMP runtime, LLVM's libomp, which implements
 * the same interface). Returns 1 when MKL is ready, 0 when it was not found (the reason in
 * bench_mkl_error). Idempotent. */
int bench_mkl_load(void);

/* Why bench_mkl_load failed, or "" after it succeeded. */
const char *bench_mkl_error(void);

/* MKL's version string, the file it was loaded from, and the code path (CBWR branch) it
 * chose for this CPU: "AVX-512", "AVX-512 E1", "AVX2", ... Only after bench_mkl_load
 * returned 1. */
const char *bench_mkl_version(void);
const char *bench_mkl_path(void);
const char *bench_mkl_code_path(void);

/* MKL's threads for the calls that follow. */
void bench_mkl_set_num_threads(int threads);

/* C = op(A) * op(B), row-major, alpha 1, beta 0, by MKL's cblas_sgemm: the arguments of
 * bench_naive_sgemm. */
void bench_mkl_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

/* ---- Variants of the GEMM's table (gemm_table.c) --------------------------------------- */

/* The name of the table ck_sgemm uses for this CPU ("avx2", "avx512-one-fma", ...). */
const char *bench_gemm_table_name(void);

/* Makes a variant of this CPU's table: a copy with the assignments applied
 * ("kc=512,mc=96": FIELD=INTEGER, separated by commas; "" for none). Returns its number, or
 * -1 when an assignment is not FIELD=INTEGER with a field of the table (bench_gemm_table_error
 * says which). At most 32 variants. */
int bench_gemm_table_variant(const char *assignments);
const char *bench_gemm_table_error(void);

/* Makes ck_sgemm use variant (a number from bench_gemm_table_variant), or this CPU's own
 * table for -1. */
void bench_gemm_table_use(int variant);

/* The route (ck_gemm_route_name) that C = op(A)·op(B), alpha 1, beta 0, dense operands,
 * takes on `threads` threads under variant (-1: this CPU's table). */
const char *bench_gemm_table_route(int variant, int trans_a, int trans_b, int64_t m, int64_t n,
                                   int64_t k, int threads);

/* ---- Idle threads (idle.c) ------------------------------------------------------------- */

/* Waits until no other thread of this process is running or runnable (OpenMP and OpenBLAS
 * workers spin for a while after a parallel call, on the core the next measurement needs),
 * polling /proc/self/task every millisecond, for at most max_seconds. Returns the seconds
 * waited. */
double bench_wait_for_idle_threads(double max_seconds);

/* The seconds bench_wait_for_idle_threads has waited in total. */
double bench_total_idle_wait(void);

#endif
