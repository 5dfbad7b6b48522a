/*
 * ckernels_gemm.h — ck_sgemm, its fused and batched forms, and the plan that routes them.
 *
 * Part of ckernels.h, whose conventions (layouts, sizes, aliasing, thread independence) hold
 * for every function here.
 */
#ifndef CKERNELS_GEMM_H
#define CKERNELS_GEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * GEMM: C = alpha * op(A) * op(B) + beta * C
 * ------------------------------------------------------------------------------------- */

/* op(A) is m x k: A itself (stored m x k, lda >= k) when trans_a == 0, or the transpose
 * of A (stored k x m, lda >= m) when trans_a != 0. Likewise op(B) is k x n: B stored k x n
 * (ldb >= n), or stored n x k (ldb >= k) when trans_b != 0. C is m x n, ldc >= n.
 *
 * beta == 0 means C is not read: NaN or garbage in C is overwritten. alpha == 0 or k == 0
 * reads neither A nor B and only scales C by beta. Transposed operands are read in place.
 * C must not overlap A or B. */
void ck_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
              float *c, int64_t ldc);

/* C = act(alpha * op(A) * op(B) + beta * C + bias): ck_sgemm (same arguments, same rules)
 * with a fused epilogue. bias (length n, or NULL for none) is added to column j of every
 * row: C[i][j] += bias[j]. When relu != 0, each result x then becomes x < 0 ? 0 : x (as
 * ck_relu_forward: NaN stays NaN, -0.0 stays -0.0). The result is bitwise identical to
 * ck_sgemm, then ck_bias_add(m, n, c, ldc, bias), then ck_relu_forward on the m x n block,
 * on every path and thread count (the bias is added to the finished product as its own
 * rounding, never fused into it), but each part of C gets its bias and ReLU as soon as it
 * is finished, in registers or cache, saving two passes over C and two calls. bias must not
 * overlap C. alpha == 0 or k == 0: C = act(beta * C + bias). */
void ck_sgemm_bias_relu(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc, const float *bias, int relu);

/* The GEMM of a ReLU's backward pass, C = ReLU'(y) (.) (alpha * op(A) * op(B) + beta * C):
 * each element of C (m x n, leading dimension ldc) is the product's value where
 * y[i*ldy + j] > 0, else +0 (NaN in y gives +0): bitwise ck_sgemm followed by
 * ck_relu_backward(y, c, c) on the m x n block, y being the ReLU's output (m x n, leading
 * dimension ldy), applied to each part of C as soon as it is finished. y must not overlap C.
 * alpha == 0 or k == 0: C = ReLU'(y) (.) (beta * C). */
void ck_sgemm_relu_backward(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float *a, int64_t lda, const float *b,
                            int64_t ldb, float beta, float *c, int64_t ldc, const float *y,
                            int64_t ldy);

/* The SGD update of an m x n parameter matrix in the product that is its gradient (dW of a
 * training step), G = alpha * op(A) * op(B), where that saves passes over memory. When ck_sgemm
 * would take a packed route with B~ shared (ck_gemm_route_for: "packed" or
 * "packed-along-rows") in one k block (ck_sgemm_takes_step), the tiles go along C's rows, each
 * row panel of G updates its parameters as soon as it is finished, while it is in cache, and G
 * is never stored nor read back; the call returns 1. param and velocity are then bitwise
 * those of
 *     ck_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, grad, n);
 *     ck_sgd(m * n, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov,
 *            maximize, first_step);
 * on every path and thread count (ck_sgd in ckernels_training.h gives the rule), and grad is
 * left unspecified. Otherwise it returns 0 having run only that ck_sgemm, G in grad, param
 * and velocity untouched: the caller's ck_sgd updates them with the other parameters, in one
 * pass. param, velocity and grad are m x n, their rows n floats apart; none of them may
 * overlap another, A or B. As in ck_sgd, velocity may be NULL when momentum is 0. */
int ck_sgemm_sgd(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                 float *param, float *velocity, float lr, float momentum, float dampening,
                 float weight_decay, int nesterov, int maximize, int first_step);

/* ck_sgemm_sgd's contract for Adam and AdamW: where the product takes the step (returns 1),
 * param, exp_avg, exp_avg_sq and max_exp_avg_sq are bitwise those of
 *     ck_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, grad, n);
 *     ck_adam(m * n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
 *             weight_decay, maximize, decoupled_weight_decay, bias_correction1,
 *             bias_correction2);
 * and grad is left unspecified; otherwise (returns 0) only that ck_sgemm ran, G in grad, and
 * param and the moments are untouched. max_exp_avg_sq is NULL unless amsgrad, as in ck_adam.
 * All are m x n, their rows n floats apart; none of them may overlap another, A or B. */
int ck_sgemm_adam(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                  float *param, float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                  float lr, float beta1, float beta2, float eps, float weight_decay,
                  int maximize, int decoupled_weight_decay, double bias_correction1,
                  double bias_correction2);

/* ck_sgemm_sgd's contract for RMSprop (alpha_ab scales the product; alpha is RMSprop's): where
 * the product takes the step (returns 1), param and the buffers are bitwise those of
 *     ck_sgemm(trans_a, trans_b, m, n, k, alpha_ab, a, lda, b, ldb, 0, grad, n);
 *     ck_rmsprop(m * n, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
 *                weight_decay, momentum, maximize);
 * and grad is left unspecified; otherwise (returns 0) only that ck_sgemm ran, G in grad, and
 * param and the buffers are untouched. grad_avg and momentum_buffer may be NULL as in
 * ck_rmsprop. All are m x n, their rows n floats apart; none of them may overlap another, A
 * or B. */
int ck_sgemm_rmsprop(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha_ab,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                     float *param, float *square_avg, float *grad_avg, float *momentum_buffer,
                     float lr, float alpha, float eps, float weight_decay, float momentum,
                     int maximize);

/* Whether ck_sgemm_sgd, ck_sgemm_adam and ck_sgemm_rmsprop take the step for this product (1)
 * or would only store G (0), on the current table and thread count, alpha not 0: a few
 * comparisons, for a caller that has other work to do first (finding the optimizer's
 * buffers) only when they do. It plans with grad NULL, which counts as a grad whose first
 * element is on a cache line (64 bytes), as the library's buffers are: for a grad that is
 * not, those functions may take the step where this returns 0 (a product of one k block and
 * one A~ block on several threads takes own slivers, and no step, only where C's rows start
 * on cache lines: own_slivers_one_block in CKernels/gemm_plan.h). */
int ck_sgemm_takes_step(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k);

/* Which code computes a product is planned per call from a table of block sizes and
 * thresholds for the kind of CPU (its architecture, below), the shape, the transposes, alpha,
 * beta and the epilogue. Block sizes change the order in which the k sums are split and
 * added, so results may differ bit for bit between architectures (and between paths); on
 * one architecture they never depend on the thread count. */

/* ck_sgemm on each of `batch` problems (same arguments and rules; each product runs in
 * parallel as ck_sgemm does): C_i = alpha * op(A_i) * op(B_i) + beta * C_i with
 * A_i = a + i * stride_a, B_i = b + i * stride_b, C_i = c + i * stride_c, i in batch order.
 * A stride of 0 shares an operand among the batch; stride_c == 0 sums all products into one
 * C: C = alpha * sum over i of op(A_i) * op(B_i) + beta * C (each product added in order, beta
 * applied with the first), so batch == 0 leaves C = beta * C (zeros when beta is 0). */
void ck_sgemm_batched(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, int64_t stride_a,
                      const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                      int64_t ldc, int64_t stride_c);

/* The instruction-set paths of the GEMM microkernel. */
typedef enum {
    CK_GEMM_PATH_PORTABLE = 0, /* plain C vector extensions: any CPU */
    CK_GEMM_PATH_AVX2 = 1,     /* x86-64 with AVX2 and FMA */
    CK_GEMM_PATH_AVX512 = 2,   /* x86-64 with AVX-512F */
} ck_gemm_path;

/* The architectures the GEMM has a table for: an instruction-set path with its block sizes
 * and thresholds. Which CPUs select each: ck_gemm_arch_for_cpu, below. */
typedef enum {
    CK_GEMM_ARCH_PORTABLE = 0,        /* the portable path, any CPU */
    CK_GEMM_ARCH_AVX2 = 1,            /* AVX2+FMA, any x86-64 CPU with them (by default
                                         those without AVX-512F) */
    CK_GEMM_ARCH_AVX512_ONE_FMA = 2,  /* AVX-512, one 512-bit FMA a cycle: AMD Zen 4, and
                                         every AVX-512 CPU not listed for the two below */
    CK_GEMM_ARCH_AVX512_TWO_FMA = 3,  /* AVX-512, two 512-bit FMA units: Intel's server cores,
                                         Skylake-SP .. Emerald Rapids and Granite Rapids (the
                                         models listed below), or any with AMX tiles */
    CK_GEMM_ARCH_AVX512_ZEN5 = 4,     /* AVX-512, two 512-bit FMA pipes: AMD Zen 5 */
} ck_gemm_arch;

/* CPU vendors, as CPUID names them. */
typedef enum {
    CK_CPU_VENDOR_OTHER = 0,
    CK_CPU_VENDOR_INTEL = 1,
    CK_CPU_VENDOR_AMD = 2,
} ck_cpu_vendor;

/* What the GEMM needs to know of a CPU: vendor, family and model as CPUID reports them
 * (family and model with their extended fields added, as Linux's /proc/cpuinfo shows them),
 * whether it runs AVX-512F, and AVX2 with FMA, and whether CPUID lists AMX tiles (1 or 0).
 * AMX is not used; it marks Intel's server cores from Sapphire Rapids on, all with two
 * 512-bit FMA units, also where a hypervisor reports another model number. */
typedef struct {
    ck_cpu_vendor vendor;
    int family, model;
    int avx512f, avx2_fma, amx_tile;
} ck_gemm_cpu;

/* This CPU (all zero but what is known off x86-64). */
ck_gemm_cpu ck_gemm_this_cpu(void);

/* The architecture ck_sgemm uses by default on cpu. CPUID does not tell how many FMA units
 * a core has, so the vendor, family, model and AMX decide, with a fallback for models not
 * listed:
 *   AVX-512F, AMD family 25 (0x19: Zen 4)                       AVX512_ONE_FMA
 *   AVX-512F, AMD family 26 (0x1A: Zen 5), any model              AVX512_ZEN5
 *   AVX-512F, Intel family 6, server models 85 (Skylake-SP to Cooper Lake), 106 and 108
 *     (Ice Lake-SP), 143 (Sapphire Rapids), 207 (Emerald Rapids), 173 and 174 (Granite
 *     Rapids), or any model with AMX tiles (a hypervisor may report a model number that
 *     is not the core's)                                          AVX512_TWO_FMA
 *   AVX-512F, anything else (client Intel cores with one FMA unit, unknown models and
 *     vendors): the fallback                                      AVX512_ONE_FMA
 *   AVX2 and FMA                                                  AVX2
 *   otherwise                                                     PORTABLE */
ck_gemm_arch ck_gemm_arch_for_cpu(ck_gemm_cpu cpu);

/* The path of arch's table, and its name ("portable", "avx2", "avx512-one-fma",
 * "avx512-two-fma", "avx512-zen5"). */
ck_gemm_path ck_gemm_arch_path(ck_gemm_arch arch);
const char *ck_gemm_arch_name(ck_gemm_arch arch);

/* The architecture ck_sgemm uses. Chosen once: ck_gemm_arch_for_cpu(ck_gemm_this_cpu()),
 * unless the environment variable CK_GEMM_PATH ("portable", "avx2" or "avx512") names a
 * path this CPU supports other than that architecture's: then the portable or AVX2 table. */
ck_gemm_arch ck_gemm_get_arch(void);

/* Uses arch's table from now on. Returns 0, or -1 (and changes nothing) when this CPU cannot
 * run its path. */
int ck_gemm_set_arch(ck_gemm_arch arch);

/* The path ck_sgemm uses: that of its architecture. */
ck_gemm_path ck_gemm_get_path(void);

/* Forces a path: this CPU's own architecture if its path is that one, otherwise the path's
 * table (portable or AVX2). Returns 0, or -1 (and changes nothing) when this CPU cannot run
 * it. */
int ck_gemm_set_path(ck_gemm_path path);

/* Whether this CPU can run the path: 1 or 0. */
int ck_gemm_path_supported(ck_gemm_path path);

/* The routes a product can take (the plan, in CKernels/gemm_plan.h, says when each is
 * taken): nothing to do, C = beta * C only, the direct forms that do not pack (the dot form
 * along k, the broadcast form along C's rows, its row panels for very few terms, the
 * broadcast form along C's columns), and the blocked product that packs op(A) and op(B),
 * with B~ shared by the threads or packed by each thread for its own columns (or, for B as
 * stored, read in place by each thread), and with B~ shared and its tiles taken along C's
 * rows. */
typedef enum {
    CK_GEMM_ROUTE_NOTHING = 0,
    CK_GEMM_ROUTE_SCALE = 1,
    CK_GEMM_ROUTE_DOT = 2,
    CK_GEMM_ROUTE_ROW_PANELS = 3,
    CK_GEMM_ROUTE_BROADCAST = 4,
    CK_GEMM_ROUTE_BROADCAST_TRANSPOSED = 5,
    CK_GEMM_ROUTE_PACKED = 6,
    CK_GEMM_ROUTE_PACKED_OWN_SLIVERS = 7,
    CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE = 8,
    CK_GEMM_ROUTE_PACKED_ALONG_ROWS = 9,
} ck_gemm_route;

/* The entry point of a product, for the plan: ck_sgemm, ck_sgemm_bias_relu with a bias,
 * with a bias and the ReLU, or with the ReLU alone, and ck_sgemm_relu_backward. */
typedef enum {
    CK_GEMM_EPILOGUE_NONE = 0,
    CK_GEMM_EPILOGUE_BIAS = 1,
    CK_GEMM_EPILOGUE_BIAS_RELU = 2,
    CK_GEMM_EPILOGUE_RELU = 3,
    CK_GEMM_EPILOGUE_RELU_BACKWARD = 4,
} ck_gemm_epilogue_kind;

/* The route ck_sgemm (or the entry point of `epilogue`) takes for these arguments on arch's
 * table with `threads` threads (>= 1; whether this CPU supports arch does not matter), C's
 * first element on a cache line (64 bytes), as the library's buffers are, and its rows ldc
 * floats apart; B dense (its rows n floats apart, or k when transposed). m, n and k are sizes
 * ck_sgemm could be given: a C of m x n floats fits in memory. */
ck_gemm_route ck_gemm_route_for(ck_gemm_arch arch, int threads, int trans_a, int trans_b,
                                int64_t m, int64_t n, int64_t k, int64_t ldc, float alpha,
                                float beta, ck_gemm_epilogue_kind epilogue);

/* The route's name: "nothing", "scale", "dot", "row-panels", "broadcast",
 * "broadcast-transposed", "packed", "packed-own-slivers", "packed-own-slivers-in-place",
 * "packed-along-rows". */
const char *ck_gemm_route_name(ck_gemm_route route);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_GEMM_H */
