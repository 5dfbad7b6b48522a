/*
 * ckernels.h — the C kernels behind the DeepLearning Swift library: the threading controls
 * below, and every kernel, by topic, in the headers it includes:
 *   ckernels_gemm.h      ck_sgemm, its fused and batched forms, and the plan's routes;
 *   ckernels_layers.h    element-wise layers, convolution, pooling, batch normalization;
 *   ckernels_training.h  losses, regularizers, optimizer updates;
 *   ckernels_graph.h     the graph's operations (automatic differentiation).
 *
 * Conventions for every function of these headers:
 *   - Matrices are row-major float32. A "rows x cols" matrix X with leading dimension ldx
 *     (in elements, ldx >= cols) holds element (i, j) at x[i * ldx + j].
 *   - Sizes are int64_t and must be >= 0; a size of 0 makes the call do nothing
 *     (except where stated). Pointers may be NULL only when nothing is read through them.
 *   - Nothing here allocates memory the caller must free. Kernels keep scratch memory
 *     (GEMM packing buffers) cached per thread, freed when the thread ends; it is never
 *     visible to the caller.
 *   - Results do not depend on the thread count, bit for bit: work is split between threads
 *     by output rows or columns, never along a sum, and an output is computed the same way
 *     whichever thread computes it (the GEMM's threads take over each other's last tiles).
 *   - Arguments may alias only where a function says so.
 */
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stdint.h>

#include "ckernels_gemm.h"
#include "ckernels_graph.h"
#include "ckernels_layers.h"
#include "ckernels_training.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Threading
 * ------------------------------------------------------------------------------------- */

/* ck_set_num_threads's result when n is above ck_max_num_threads(). */
#define CK_ERROR_TOO_MANY_THREADS 2

/* The largest thread count the kernels use: 256, or the number of processors available to
 * the process (omp_get_num_procs) where that is more. More threads than processors never make
 * a kernel faster; a count far beyond them (a mistyped one) would make OpenMP start that many
 * threads in each team. */
int ck_max_num_threads(void);

/* Sets the number of threads kernels may use. n <= 0 restores the default, which is
 * OpenMP's (OMP_NUM_THREADS if set, otherwise the number of processors), at most
 * ck_max_num_threads(): a larger OMP_NUM_THREADS is clamped to it, with one line on stderr
 * the first time a kernel asks for the count. A kernel whose work is too small to pay for a
 * parallel region runs on the calling thread regardless. Returns 0, or
 * CK_ERROR_TOO_MANY_THREADS (and changes nothing) when n is above ck_max_num_threads(). */
int ck_set_num_threads(int n);

/* The number of threads kernels may use (always >= 1; 1 on a thread inside an OpenMP parallel
 * region, where a kernel opens no region of its own). */
int ck_get_num_threads(void);

/* For tests: the bytes of scratch memory the kernels keep for all threads together. A thread's
 * scratch memory is freed when the thread ends. */
int64_t ck_scratch_bytes(void);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_H */
