/*
 * ckernels.h — the C kernels behind the DeepLearning Swift library.
 *
 * Conventions for every function below:
 *   - Matrices are row-major float32. A "rows x cols" matrix X with leading dimension ldx
 *     (in elements, ldx >= cols) holds element (i, j) at x[i * ldx + j].
 *   - Sizes are int64_t and must be >= 0; a size of 0 makes the call do nothing
 *     (except where stated). Pointers may be NULL only when nothing is read through them.
 *   - Nothing here allocates memory the caller must free. Kernels keep scratch memory
 *     (GEMM packing buffers) cached per thread; it is never visible to the caller.
 *   - Results do not depend on the thread count, bit for bit: work is split between threads
 *     by output rows or columns, never along a sum, and an output is computed the same way
 *     whichever thread computes it (the GEMM's threads take over each other's last tiles).
 *   - Arguments may alias only where a function says so.
 */
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Threading
 * ------------------------------------------------------------------------------------- */

/* Sets the number of threads kernels may use. n <= 0 restores the default, which is
 * OpenMP's (OMP_NUM_THREADS if set, otherwise the number of processors). A kernel whose
 * work is too small to pay for a parallel region runs on the calling thread regardless. */
void ck_set_num_threads(int n);

/* The number of threads kernels may use (always >= 1). */
int ck_get_num_threads(void);

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

/* Which code computes a product is planned per call from a table of block sizes and
 * thresholds for the kind of CPU (its architecture, below), the shape, the transposes, alpha,
 * beta and the epilogue. Block sizes change the order in which the k sums are split and
 * added, so results may differ bit for bit between architectures (and between paths); on
 * one architecture they never depend on the thread count. */

/* The instruction-set paths of the GEMM microkernel. */
typedef enum {
    CK_GEMM_PATH_PORTABLE = 0, /* plain C vector extensions: any CPU */
    CK_GEMM_PATH_AVX2 = 1,     /* x86-64 with AVX2 and FMA */
    CK_GEMM_PATH_AVX512 = 2,   /* x86-64 with AVX-512F */
} ck_gemm_path;

/* The architectures the GEMM has a table for: an instruction-set path with its block sizes
 * and thresholds. */
typedef enum {
    CK_GEMM_ARCH_PORTABLE = 0,        /* the portable path, any CPU */
    CK_GEMM_ARCH_AVX2 = 1,            /* AVX2+FMA, any x86-64 CPU with them */
    CK_GEMM_ARCH_AVX512_ONE_FMA = 2,  /* AVX-512, one 512-bit FMA a cycle: AMD Zen 4 */
    CK_GEMM_ARCH_AVX512_TWO_FMA = 3,  /* AVX-512, two: Intel Skylake-SP .. Emerald Rapids */
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
 * floats apart; B dense (its rows n floats apart, or k when transposed). */
ck_gemm_route ck_gemm_route_for(ck_gemm_arch arch, int threads, int trans_a, int trans_b,
                                int64_t m, int64_t n, int64_t k, int64_t ldc, float alpha,
                                float beta, ck_gemm_epilogue_kind epilogue);

/* The route's name: "nothing", "scale", "dot", "row-panels", "broadcast",
 * "broadcast-transposed", "packed", "packed-own-slivers", "packed-own-slivers-in-place",
 * "packed-along-rows". */
const char *ck_gemm_route_name(ck_gemm_route route);

/* ---------------------------------------------------------------------------------------
 * Element-wise kernels
 * ------------------------------------------------------------------------------------- */

/* x[i][j] += bias[j] for a rows x cols matrix x (leading dimension ldx >= cols). */
void ck_bias_add(int64_t rows, int64_t cols, float *x, int64_t ldx, const float *bias);

/* dbias[j] += sum over i of dy[i][j] for a rows x cols matrix dy (ldy >= cols) when
 * accumulate != 0; otherwise dbias[j] = that sum (dbias not read, as if it held zeros).
 * The sum runs over i in order, on one thread per column. */
void ck_bias_grad(int64_t rows, int64_t cols, const float *dy, int64_t ldy, int accumulate,
                  float *dbias);

/* y[i] = max(x[i], 0) for n elements: x[i] when it is not below 0, so NaN stays NaN and
 * -0.0 stays -0.0. y may be x (in place); otherwise no overlap. */
void ck_relu_forward(int64_t n, const float *x, float *y);

/* dx[i] = dy[i] where y[i] > 0, else 0, for n elements, y being the ReLU's output.
 * dx may be dy (in place); y must not overlap dx. */
void ck_relu_backward(int64_t n, const float *y, const float *dy, float *dx);

/* y[i] = 1 / (1 + exp(-x[i])) for n elements, computed from exp(-|x|) so that it never
 * overflows; results below Float's normal range (x < -87.3) are 0. NaN stays NaN. y may be x
 * (in place); otherwise no overlap. */
void ck_sigmoid_forward(int64_t n, const float *x, float *y);

/* dx[i] = dy[i] * y[i] * (1 - y[i]), y being the sigmoid's output. dx may be dy. */
void ck_sigmoid_backward(int64_t n, const float *y, const float *dy, float *dx);

/* y[i] = tanh(x[i]) for n elements. y may be x (in place); otherwise no overlap. */
void ck_tanh_forward(int64_t n, const float *x, float *y);

/* dx[i] = dy[i] * (1 - y[i]^2), y being tanh's output. dx may be dy. */
void ck_tanh_backward(int64_t n, const float *y, const float *dy, float *dx);

/* Inverted dropout, training mode: y[i] = x[i] / (1 - p) where element i is kept, else 0.
 * Element i is dropped when u(seed, i) < p, u being a uniform number in [0, 1) hashed from the
 * seed and the index alone: the same (seed, n) always drop the same elements, whatever the
 * thread count. 0 <= p < 1. y may be x (in place); otherwise no overlap. */
void ck_dropout_forward(int64_t n, const float *x, float *y, float p, uint64_t seed);

/* Dropout's backward with the same seed and p as the forward: dx[i] = dy[i] / (1 - p) where
 * element i was kept, else 0. dx may be dy (in place). */
void ck_dropout_backward(int64_t n, const float *dy, float *dx, float p, uint64_t seed);

/* dst row r = src row indices[r], for r in 0..<rows: copies rows x cols floats out of a
 * matrix src (leading dimension lds >= cols) into the dense matrix dst (rows x cols).
 * Every index must be a valid row of src (the caller checks); dst must not overlap src. */
void ck_gather_rows(int64_t rows, int64_t cols, const float *src, int64_t lds,
                    const int64_t *indices, float *dst);

/* out[i] = the smallest j maximizing x[i][j], for a rows x cols matrix x (ldx >= cols,
 * cols >= 1). NaN compares as smaller than every number. */
void ck_argmax_rows(int64_t rows, int64_t cols, const float *x, int64_t ldx, int32_t *out);

/* ---------------------------------------------------------------------------------------
 * Convolution and pooling
 *
 * Images are NCHW: a batch of images, each `channels` planes of height x width floats,
 * row-major and dense. A window of kernel_h x kernel_w slides with strides stride_h,
 * stride_w (>= 1); kernel sizes are >= 1.
 * ------------------------------------------------------------------------------------- */

/* The number of windows along a dimension of `size` with zero padding `pad` on both sides:
 * (size + 2 * pad - kernel) / stride + 1, or 0 when the kernel does not fit. */
int64_t ck_conv2d_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad);

/* im2col for a batch of images (batch x channels x height x width, dense) with zero padding
 * pad_h, pad_w: writes the dense columns matrix of (channels * kernel_h * kernel_w) rows and
 * (batch * out_h * out_w) columns, out_h and out_w from ck_conv2d_output_size:
 *   columns[(c * kernel_h + ky) * kernel_w + kx][(b * out_h + oy) * out_w + ox]
 *       = images[b][c][oy * stride_h - pad_h + ky][ox * stride_w - pad_w + kx]
 * or 0 where that position lies in the padding. A convolution of the whole batch is then one
 * GEMM, channel-major: z (out_channels x batch*out_h*out_w) = weights (out_channels x
 * channels*kh*kw) * columns, moved to NCHW by ck_conv2d_output. Reads images, writes every
 * element of columns; no overlap. */
void ck_im2col(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *images, float *columns);

/* col2im, the adjoint of ck_im2col (the input gradient of a convolution from the gradient of
 * its columns, same layout): images[b][c][iy][ix] = the sum of every columns element that
 * ck_im2col would copy from (b, c, iy, ix); elements that fall in the padding are dropped,
 * and may be set to zero (columns is the caller's scratch: the others are only read). Writes
 * every element of images (it is not read: no need to zero it). Each plane is summed on one
 * thread, window offset (ky, kx) by offset, then oy, ox in order: the same bits whatever the
 * thread count. No overlap. */
void ck_col2im(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, float *columns, float *images);

/* y[b][c][i] = z[c][b][i] + bias[c]: a channel-major product z (channels x batch x pixels,
 * dense; ck_im2col's GEMM) as a dense NCHW tensor y, with one bias per channel (bias NULL:
 * none). No overlap. */
void ck_conv2d_output(int64_t batch, int64_t channels, int64_t pixels, const float *z,
                      const float *bias, float *y);

/* The adjoint of ck_conv2d_output: dz[c][b][i] = dy[b][c][i] (dense, channel-major from
 * NCHW), and dbias[c] += the sum over b and i of dy[b][c][i] (dbias NULL: not computed),
 * each channel on one thread, summed in double as batch normalization's sums are (below),
 * then rounded and added. No overlap. */
void ck_conv2d_output_gradient(int64_t batch, int64_t channels, int64_t pixels, const float *dy,
                               float *dz, float *dbias);

/* The number of pooling windows along a dimension of `size` without padding, PyTorch's rule:
 * floor((size - kernel) / stride) + 1 when ceil_mode == 0 (partial windows at the end are
 * dropped); with ceil_mode != 0, ceil((size - kernel) / stride) + 1, less one if the last
 * window would start outside the input. 0 when size < kernel. */
int64_t ck_pool2d_output_size(int64_t size, int64_t kernel, int64_t stride, int ceil_mode);

/* Pooling runs over `planes` dense height x width planes of x (batch * channels of them)
 * into dense out_h x out_w planes of y. Window (oy, ox) covers rows oy * stride_h +
 * 0..<kernel_h and columns ox * stride_w + 0..<kernel_w, clipped to the plane: the caller
 * picks out_h, out_w (ck_pool2d_output_size), and with ceil mode the last windows are partial.
 * Every window must start inside the plane. Planes are split between threads. */

/* y = the maximum of each window; argmax = its index iy * width + ix within the plane (the
 * first maximum in row-major order; a NaN is the maximum, the first one, as in PyTorch).
 * Writes y and argmax; no overlap. */
void ck_max_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t out_h,
                           int64_t out_w, const float *x, float *y, int64_t *argmax);

/* dx = zero, then dx[plane][argmax[plane][o]] += dy[plane][o] for each o in order, argmax
 * from ck_max_pool2d_forward. Writes every element of dx (not read); no overlap. */
void ck_max_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t out_h,
                            int64_t out_w, const int64_t *argmax, const float *dy, float *dx);

/* y = the mean of each window over its elements inside the plane (a partial window divides
 * by its clipped size, as PyTorch's AvgPool2d with ceil_mode and no padding). Writes y. */
void ck_avg_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t out_h,
                           int64_t out_w, const float *x, float *y);

/* dx = zero, then each window (row-major order) adds dy / (its clipped size) to each of its
 * elements. Writes every element of dx (not read); no overlap. */
void ck_avg_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                            int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t out_h,
                            int64_t out_w, const float *dy, float *dx);

/* ---------------------------------------------------------------------------------------
 * Batch normalization
 *
 * PyTorch's BatchNorm1d (N x F: pixels = 1) and BatchNorm2d (NCHW: pixels = H * W) over a
 * dense batch x channels x pixels tensor x; per channel c, n = batch * pixels values
 * x[b][c][i]. gamma, beta, the running and the saved statistics have `channels` floats.
 * Each channel is handled on one thread, its sums taken in double in 8 lanes (pixel i of
 * each plane into lane i % 8, in (b, i) order; the lanes added in a fixed tree): the same
 * bits whatever the thread count. Outputs must not overlap inputs.
 * ------------------------------------------------------------------------------------- */

/* Training mode, with the batch's statistics (n >= 2, which the caller checks):
 *   mean[c]        = (1 / n) * sum over b, i of x[b][c][i]
 *   var[c]         = (1 / n) * sum of (x[b][c][i] - mean[c])^2           (biased)
 *   inv_std[c]     = 1 / sqrt(var[c] + eps)
 *   y[b][c][i]     = gamma[c] * (x[b][c][i] - mean[c]) * inv_std[c] + beta[c]
 *   running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
 *   running_var[c]  = (1 - momentum) * running_var[c] + momentum * var[c] * n / (n - 1)
 *                                                           (unbiased, as PyTorch)
 * Writes y, saved_mean = mean and saved_inv_std = inv_std (for ck_batch_norm_backward);
 * reads and writes running_mean and running_var. Nothing happens when batch * pixels == 0. */
void ck_batch_norm_forward_training(int64_t batch, int64_t channels, int64_t pixels,
                                    const float *x, const float *gamma, const float *beta,
                                    float eps, float momentum, float *y, float *saved_mean,
                                    float *saved_inv_std, float *running_mean,
                                    float *running_var);

/* Evaluation mode, with the running statistics:
 *   inv_std[c]  = 1 / sqrt(running_var[c] + eps)
 *   y[b][c][i]  = gamma[c] * (x[b][c][i] - running_mean[c]) * inv_std[c] + beta[c]
 * Writes y, and saved_mean = running_mean and saved_inv_std = inv_std when they are not NULL
 * (for ck_batch_norm_backward with batch_statistics == 0). */
void ck_batch_norm_forward_inference(int64_t batch, int64_t channels, int64_t pixels,
                                     const float *x, const float *gamma, const float *beta,
                                     const float *running_mean, const float *running_var,
                                     float eps, float *y, float *saved_mean,
                                     float *saved_inv_std);

/* Backward, from the x and the saved statistics of a forward pass; x_hat = (x - saved_mean)
 * * saved_inv_std:
 *   dgamma[c] += sum over b, i of dy[b][c][i] * x_hat[b][c][i]
 *   dbeta[c]  += sum over b, i of dy[b][c][i]
 *   batch_statistics != 0 (after ck_batch_norm_forward_training; the statistics depend on x):
 *     dx = gamma[c] * saved_inv_std[c] / n * (n * dy - sum(dy) - x_hat * sum(dy * x_hat))
 *   batch_statistics == 0 (after ck_batch_norm_forward_inference; a fixed affine map):
 *     dx = gamma[c] * saved_inv_std[c] * dy
 * Writes dx (which may be NULL when only the parameter gradients are wanted); accumulates
 * dgamma and dbeta. Nothing happens when batch * pixels == 0. */
void ck_batch_norm_backward(int64_t batch, int64_t channels, int64_t pixels, const float *x,
                            const float *dy, const float *gamma, const float *saved_mean,
                            const float *saved_inv_std, int batch_statistics, float *dx,
                            float *dgamma, float *dbeta);

/* ---------------------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------------------- */

/* Error code of ck_softmax_cross_entropy: a label is outside [0, classes). */
#define CK_ERROR_LABEL_OUT_OF_RANGE 1

/* Fused softmax + cross-entropy over a rows x classes matrix of logits (dense, rows >= 1,
 * classes >= 1) and one label per row:
 *   *loss      = (1 / rows) * sum over i of -log softmax(logits[i])[labels[i]]
 *   dlogits[i] = (softmax(logits[i]) - onehot(labels[i])) / rows
 * Each row is computed from its maximum (log-sum-exp), so logits of +-1e4 give a finite loss
 * and the exact gradient. dlogits may be logits (in place); dlogits may be NULL when only
 * the loss is wanted. Returns 0, or CK_ERROR_LABEL_OUT_OF_RANGE and writes nothing when
 * any label is outside [0, classes). The loss is summed in a fixed order independent of
 * the thread count. */
int ck_softmax_cross_entropy(int64_t rows, int64_t classes, const float *logits,
                             const int32_t *labels, float *dlogits, float *loss);

/* probs[i] = softmax(logits[i]) for a dense rows x classes matrix (max-subtracted, stable).
 * probs may be logits (in place). */
void ck_softmax(int64_t rows, int64_t classes, const float *logits, float *probs);

/* Backward of a row-wise softmax over a dense rows x classes matrix, from its output y:
 * dx[i][j] = y[i][j] * (dy[i][j] - sum over k of dy[i][k] * y[i][k]). dx may be dy. */
void ck_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                         float *dx);

/* Multi-class hinge loss, PyTorch's MultiMarginLoss with p = 1, margin 1, no class weights,
 * mean reduction, over a dense rows x classes matrix of scores x and one label per row:
 *   *loss = (1 / rows) * sum over i of (1 / classes) * sum over j != labels[i] of
 *           max(0, 1 - x[i][labels[i]] + x[i][j])
 * and dx, its gradient (every term with a positive margin adds 1 / (rows * classes) to
 * dx[i][j] and subtracts it from dx[i][labels[i]]). dx may be NULL; it must not overlap x.
 * Returns 0, or CK_ERROR_LABEL_OUT_OF_RANGE and writes nothing when a label is outside
 * [0, classes). The loss is summed in an order independent of the thread count. */
int ck_multi_margin(int64_t rows, int64_t classes, const float *x, const int32_t *labels,
                    float *dx, float *loss);

/* Mean squared error over n elements (PyTorch's MSELoss, mean reduction):
 *   *loss = (1 / n) * sum over i of (p[i] - t[i])^2,   dp[i] = 2 * (p[i] - t[i]) / n.
 * dp may be NULL, or p (in place); it must not overlap t otherwise. n >= 1. The loss is
 * summed in an order independent of the thread count. */
void ck_mean_squared_error(int64_t n, const float *p, const float *t, float *dp, float *loss);

/* L1 loss over n elements (PyTorch's L1Loss, mean reduction):
 *   *loss = (1 / n) * sum over i of |p[i] - t[i]|,   dp[i] = sign(p[i] - t[i]) / n,
 * with sign(0) = 0, as PyTorch's gradient. dp may be NULL, or p (in place); it must not
 * overlap t otherwise. n >= 1. The loss is summed in an order independent of the thread
 * count. */
void ck_l1_loss(int64_t n, const float *p, const float *t, float *dp, float *loss);

/* Huber loss over n elements (PyTorch's HuberLoss(delta), mean reduction), delta > 0, with
 * e[i] = p[i] - t[i]:
 *   *loss = (1 / n) * sum over i of (|e[i]| < delta ? e[i]^2 / 2 : delta * (|e[i]| - delta / 2))
 *   dp[i] = clamp(e[i], -delta, delta) / n
 * (both pieces meet at |e| = delta: value delta^2 / 2, gradient +-delta / n). PyTorch's
 * SmoothL1Loss(beta) is this loss with delta = beta, divided by beta. dp may be NULL, or p
 * (in place); it must not overlap t otherwise. n >= 1. The loss is summed in double, in an
 * order independent of the thread count. */
void ck_huber_loss(int64_t n, float delta, const float *p, const float *t, float *dp,
                   float *loss);

/* ---------------------------------------------------------------------------------------
 * Regularizers
 * ------------------------------------------------------------------------------------- */

/* L1 and L2 penalties on n parameters, added to their gradients, returning the penalty:
 *   returns sum over i of l1 * |param[i]| + l2 * param[i]^2
 *   grad[i] += l1 * sign(param[i]) + 2 * l2 * param[i]      (sign(0) = 0)
 * The sum is taken in an order independent of the thread count. grad must not overlap
 * param. */
double ck_penalty(int64_t n, const float *param, float *grad, float l1, float l2);

/* ---------------------------------------------------------------------------------------
 * Optimizer updates
 * ------------------------------------------------------------------------------------- */

/* SGD, PyTorch's torch.optim.SGD (without `maximize`), for n parameters, in one pass:
 *   g        = grad + weight_decay * param
 *   velocity = g                                                 on the first step
 *   velocity = momentum * velocity + (1 - dampening) * g         after it
 *   param    = param - lr * (nesterov ? g + momentum * velocity : velocity)
 * first_step != 0 marks the first step (PyTorch's buffer is then a copy of g, undampened);
 * velocity is then written but not read, so it may hold anything. With momentum 0 every
 * step is a first step (plain SGD; velocity holds the last step's direction). nesterov is
 * 0 or not; the caller checks PyTorch's rule that Nesterov needs momentum > 0 and dampening
 * 0. Reads grad; reads and writes param and velocity. param, grad and velocity must not
 * overlap. */
void ck_sgd(int64_t n, float *param, const float *grad, float *velocity, float lr,
            float momentum, float dampening, float weight_decay, int nesterov, int first_step);

/* ck_sgd on `count` tensors in one call (one parallel region at most; the same results as
 * one ck_sgd per tensor): tensor t has sizes[t] >= 0 elements at params[t], grads[t] and
 * velocities[t]. A training step updates every parameter tensor of a model with it. */
void ck_sgd_tensors(int64_t count, const int64_t *sizes, float *const *params,
                    const float *const *grads, float *const *velocities, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov,
                    int first_step);

/* SGD with momentum and weight decay, dampening 0 and no Nesterov, from the velocity given:
 * ck_sgd(n, param, grad, velocity, lr, momentum, 0, weight_decay, 0, 0), that is
 *   velocity = momentum * velocity + (grad + weight_decay * param)
 *   param    = param - lr * velocity
 * which is PyTorch's rule when velocity starts at zero. With momentum 0 this is plain SGD
 * (velocity then holds the last step's direction). param, grad and velocity must not
 * overlap. */
void ck_sgd_momentum(int64_t n, float *param, const float *grad, float *velocity, float lr,
                     float momentum, float weight_decay);

/* Adam and AdamW, PyTorch's torch.optim.Adam and torch.optim.AdamW (without amsgrad or
 * `maximize`), for n parameters, in one pass, at step t >= 1:
 *   AdamW (decoupled_weight_decay != 0):  g = grad;  param = param * (1 - lr * weight_decay)
 *   Adam  (decoupled_weight_decay == 0):  g = grad + weight_decay * param
 *   exp_avg    = beta1 * exp_avg    + (1 - beta1) * g
 *   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
 *   param      = param - (lr / bias_correction1)
 *                        * exp_avg / (sqrt(exp_avg_sq) / sqrt(bias_correction2) + eps)
 * where the caller passes bias_correction1 = 1 - beta1^t and bias_correction2 = 1 - beta2^t
 * (both > 0). exp_avg and exp_avg_sq start at zero. Reads grad; reads and writes param,
 * exp_avg and exp_avg_sq, which must not overlap each other or grad. */
void ck_adam(int64_t n, float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
             float lr, float beta1, float beta2, float eps, float weight_decay,
             int decoupled_weight_decay, float bias_correction1, float bias_correction2);

/* RMSprop, PyTorch's torch.optim.RMSprop (without `maximize`), for n parameters, in one pass:
 *   g          = grad + weight_decay * param
 *   square_avg = alpha * square_avg + (1 - alpha) * g * g
 *   centered (grad_avg != NULL):
 *     grad_avg = alpha * grad_avg + (1 - alpha) * g;   denom = sqrt(square_avg - grad_avg^2) + eps
 *   otherwise:                                          denom = sqrt(square_avg) + eps
 *   momentum > 0:  momentum_buffer = momentum * momentum_buffer + g / denom
 *                  param = param - lr * momentum_buffer
 *   otherwise:     param = param - lr * g / denom
 * square_avg, grad_avg and momentum_buffer start at zero. grad_avg is NULL for the plain
 * (uncentered) form; momentum_buffer is used only when momentum > 0 (then it must not be
 * NULL) and may be NULL otherwise. Reads grad; reads and writes param and the buffers given,
 * none of which may overlap another or grad. */
void ck_rmsprop(int64_t n, float *param, const float *grad, float *square_avg, float *grad_avg,
                float *momentum_buffer, float lr, float alpha, float eps, float weight_decay,
                float momentum);

/* ---------------------------------------------------------------------------------------
 * The graph's operations (automatic differentiation)
 *
 * Forward and backward passes of the operations Tensor records for backward(). A backward
 * kernel writes an input's gradient dx, or adds to it: accumulate != 0 means dx += the
 * gradient, accumulate == 0 means dx = the gradient (dx not read, so it may hold anything).
 * ------------------------------------------------------------------------------------- */

/* The highest rank the broadcasting kernels take (their `rank` argument). */
#define CK_MAX_RANK 8

/* Binary operations: out = a op b. */
typedef enum {
    CK_BINARY_ADD = 0,
    CK_BINARY_SUBTRACT = 1,
    CK_BINARY_MULTIPLY = 2,
    CK_BINARY_DIVIDE = 3,
} ck_binary_op;

/* out (+)= a op b with NumPy broadcasting, over an output of `shape` (rank <= CK_MAX_RANK
 * dimensions, out dense row-major): the element at multi-index i reads
 * a[sum over d of i[d] * a_strides[d]] and likewise b, strides in elements (0 along the
 * dimensions an operand is broadcast over; a scalar has all strides 0). Overwrites out, or
 * adds to it when accumulate != 0. out must not overlap a or b unless it is the same array
 * read with out's own (dense) strides. Nothing happens when a dimension is 0. */
void ck_binary(ck_binary_op op, int rank, const int64_t *shape, const float *a,
               const int64_t *a_strides, const float *b, const int64_t *b_strides,
               int accumulate, float *out);

/* The gradient of operand `operand` (0: a, 1: b) of ck_binary's out = a op b from dy (dense,
 * `shape`): for each element of that operand, the sum over the output elements that read it of
 *   +: dy;  -: dy (a), -dy (b);  *: dy * b (a), dy * a (b);  /: dy / b (a), -dy * a / b^2 (b)
 * into dx, which is laid out as the operand (dx's element for output index i is at the
 * operand's offset for i). Each sum runs over the output elements in row-major order, on one
 * thread. Writes or accumulates dx (see above); a and b may be NULL when the term does not
 * read them. dx must not overlap dy, a or b. Nothing happens when a dimension is 0 (the
 * caller zeroes dx if needed). */
void ck_binary_gradient(ck_binary_op op, int operand, int rank, const int64_t *shape,
                        const float *dy, const float *a, const int64_t *a_strides,
                        const float *b, const int64_t *b_strides, int accumulate, float *dx);

/* y (+)= scale * (x summed over the dimensions where y_strides is 0), for x dense of `shape`:
 * the sum of an axis (y_strides 0 along it), the reduction of a broadcast operand's gradient.
 * y's element for index i is at sum over d of i[d] * y_strides[d]. Sums in row-major order,
 * each on one thread, scaled term by term (x[i] * scale). y must not overlap x. */
void ck_sum_to(int rank, const int64_t *shape, const float *x, const int64_t *y_strides,
               float scale, int accumulate, float *y);

/* Element-wise functions of one tensor. */
typedef enum {
    CK_UNARY_NEGATE = 0, /* -x */
    CK_UNARY_EXP = 1,    /* e^x */
    CK_UNARY_LOG = 2,    /* natural logarithm */
    CK_UNARY_SQRT = 3,   /* square root */
    CK_UNARY_POW = 4,    /* x^p, p the parameter */
    CK_UNARY_ABS = 5,    /* |x|; gradient sign(x), 0 at 0 */
    CK_UNARY_SIN = 6,
    CK_UNARY_COS = 7,
    CK_UNARY_GELU = 8,   /* x * Phi(x), Phi the standard normal CDF, exact (erf) form */
} ck_unary_op;

/* y[i] = f(x[i]) for n elements (libm's functions). parameter: the exponent of
 * CK_UNARY_POW, ignored otherwise. y may be x. */
void ck_unary_forward(ck_unary_op op, int64_t n, const float *x, float parameter, float *y);

/* dx[i] (+)= dy[i] * f'(x[i]), from x and the forward's output y (exp and sqrt read y, the
 * others x; the one not read may be NULL). pow with exponent 0 has gradient 0 everywhere.
 * dx may be dy; it must not overlap x or y otherwise. */
void ck_unary_backward(ck_unary_op op, int64_t n, const float *x, const float *y,
                       const float *dy, float parameter, int accumulate, float *dx);

/* y[i] (+)= alpha * x[i] for n elements (with accumulate == 0 and alpha == 1, an exact copy).
 * y may be x. */
void ck_scaled_add(int64_t n, float alpha, const float *x, int accumulate, float *y);

/* x[i] = value for n elements. */
void ck_fill(int64_t n, float value, float *x);

/* The sum of n elements, added in double in chunks whose boundaries depend only on n, the
 * chunks' sums in order (the same bits whatever the thread count), rounded to float. 0 for
 * n == 0. */
float ck_sum(int64_t n, const float *x);

/* The maximum of n >= 1 elements (a NaN is the maximum), and in *ties the number of elements
 * equal to it (NaNs, for a NaN maximum). */
float ck_max(int64_t n, const float *x, int64_t *ties);

/* The gradient of ck_max: dx[i] (+)= share where x[i] is the maximum (as ck_max decides),
 * else 0. share = dy / ties splits the gradient evenly between ties, as PyTorch. dx must not
 * overlap x. */
void ck_max_backward(int64_t n, const float *x, float maximum, float share, int accumulate,
                     float *dx);

/* The maximum along the middle axis of a dense outer x n x inner tensor x (n >= 1):
 * y[o][i] = x[o][k][i] for the first k that is a maximum (a NaN is the maximum, the first
 * one, as PyTorch), indices[o][i] = that k. y and indices are dense outer x inner. */
void ck_max_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y,
                 int64_t *indices);

/* The gradient of ck_max_axis: dx[o][k][i] (+)= dy[o][i] where k == indices[o][i], else 0.
 * Writes or accumulates every element of dx (dense outer x n x inner); no overlap. */
void ck_max_axis_backward(int64_t outer, int64_t n, int64_t inner, const int64_t *indices,
                          const float *dy, int accumulate, float *dx);

/* y[m][j][i] (+)= x[m][i][j] for each of `batch` dense rows x cols matrices x (y: dense
 * cols x rows matrices). No overlap. */
void ck_transpose(int64_t batch, int64_t rows, int64_t cols, const float *x, int accumulate,
                  float *y);

/* dst[r][j] (+)= src[r][j] for a rows x cols block, src with leading dimension lds, dst
 * with ldd (concatenation and its backward pass). No overlap. */
void ck_copy_block(int64_t rows, int64_t cols, const float *src, int64_t lds, int accumulate,
                   float *dst, int64_t ldd);

/* The backward pass of ck_gather_rows: dtable (table_rows x cols, dense) (+)= for each r in
 * 0..<rows, dy row r added to row indices[r], rows in order (an index repeated sums its rows
 * in that order). Rows never gathered get 0 (or keep their values when accumulating). Every
 * index must be in [0, table_rows) (the caller checks). Threads split the columns. No
 * overlap. */
void ck_scatter_add_rows(int64_t rows, int64_t cols, const float *dy, const int64_t *indices,
                         int64_t table_rows, int accumulate, float *dtable);

/* ck_sgemm on each of `batch` problems (same arguments and rules; each product runs in
 * parallel as ck_sgemm does): C_i = alpha * op(A_i) * op(B_i) + beta * C_i with
 * A_i = a + i * stride_a, B_i = b + i * stride_b, C_i = c + i * stride_c, i in batch order.
 * A stride of 0 shares an operand among the batch; stride_c == 0 sums all products into one
 * C: C = alpha * sum over i of op(A_i) * op(B_i) + beta * C (each product added in order, beta
 * applied with the first). */
void ck_sgemm_batched(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, int64_t stride_a,
                      const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                      int64_t ldc, int64_t stride_c);

/* y[i] = log softmax(x[i]) = (x[i] - max) - log(sum over j of exp(x[i][j] - max)) for a
 * dense rows x classes matrix (classes >= 1), each row from its maximum (stable). y may be
 * x. */
void ck_log_softmax(int64_t rows, int64_t classes, const float *x, float *y);

/* The gradient of ck_log_softmax from its output y: dx[i][j] (+)= dy[i][j] - exp(y[i][j]) *
 * (sum over k of dy[i][k]). dx must not overlap y or dy. */
void ck_log_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                             int accumulate, float *dx);

/* Binary cross-entropy on logits (PyTorch's BCEWithLogitsLoss, mean reduction) over n >= 1
 * logits z and targets t: returns (1 / n) * sum over i of
 *   max(z[i], 0) - z[i] * t[i] + log(1 + exp(-|z[i]|))
 * (summed in double, in an order independent of the thread count), and writes, unless NULL,
 * dz[i] = (sigmoid(z[i]) - t[i]) / n and dt[i] = -z[i] / n. dz and dt must not overlap z or
 * t. */
float ck_binary_cross_entropy_logits(int64_t n, const float *z, const float *t, float *dz,
                                     float *dt);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_H */
