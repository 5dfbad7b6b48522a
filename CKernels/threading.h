/* Internal: how kernels decide whether to open a parallel region and with how many threads. */
#ifndef CK_THREADING_H
#define CK_THREADING_H

#include <stdint.h>

/* Swift's clang ships no omp.h: the OpenMP runtime calls the kernels use. */
int omp_get_max_threads(void);
int omp_get_num_procs(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_in_parallel(void);

/* Element-wise kernels open a parallel region only from this many elements on: below it,
 * waking the threads and joining them again (fork/join, dearer still when the threads have
 * gone to sleep since the last region) costs more than sharing the work saves. */
#define CK_PARALLEL_MIN_ELEMENTS ((int64_t)1 << 15)

/* The number of threads worth using for `work` units, when one thread should get at least
 * `min_work_per_thread` of them: 1 (no parallel region) up to ck_get_num_threads(). */
int ck_threads_for(int64_t work, int64_t min_work_per_thread);

/* [begin, end) of part `part` out of `parts` equal contiguous shares of 0..<count, every
 * boundary a multiple of `align` (except count itself). */
void ck_split_range(int64_t count, int64_t align, int part, int parts, int64_t *begin,
                    int64_t *end);

/* A kernel's work over the range [begin, end) of its independent outputs; args points to the
 * kernel's own argument struct. */
typedef void (*ck_range_body)(const void *args, int64_t begin, int64_t end);

/* Runs body over 0..<count in an OpenMP region of `threads` (>= 2) threads, each given one
 * contiguous share whose boundaries are multiples of `align` (ck_split_range). */
void ck_parallel_region(int64_t count, int64_t align, int threads, ck_range_body body,
                        const void *args);

/* Runs body over 0..<count: on the calling thread when threads <= 1, otherwise as
 * ck_parallel_region. Inline, so that serial work enters no function that opens a region
 * (such a function asks the OpenMP runtime for the thread's id on entry, whichever branch
 * it takes). */
static inline void ck_parallel_for(int64_t count, int64_t align, int threads,
                                   ck_range_body body, const void *args) {
    if (threads <= 1)
        body(args, 0, count);
    else
        ck_parallel_region(count, align, threads, body, args);
}

/* A kernel's work over [begin, end) that also returns the sum of something over it. */
typedef double (*ck_range_sum_body)(const void *args, int64_t begin, int64_t end);

/* Runs body over 0..<count cut into chunks whose boundaries depend only on count (at most 64
 * chunks, each of at least min_chunk), on up to `threads` threads, and returns the chunks'
 * sums added in chunk order: the same bits whatever the thread count. */
double ck_parallel_sum(int64_t count, int64_t min_chunk, int threads, ck_range_sum_body body,
                       const void *args);

/* Compiles a kernel's loop once per x86-64 instruction set, the best chosen at load time
 * (the kernels are built without -march): an AVX-512 clone, an AVX2 one and a baseline
 * ("default") one. The clones give the same bits (their sums in orders fixed by the data's
 * shape, never by the vector width); the GEMM's results may differ between kinds of CPU, by
 * contract.
 *
 * On a CPU with AVX-512 only its clone runs. To test the others there, a build can be forced to
 * one instruction set (a test build; CI's .ci/clones runs the tests so), the variable turned
 * into this define of the kernels' target alone by Package.swift:
 *     CK_FORCE_ISA=CK_ISA_AVX2 swift build       every CK_VECTORIZED* kernel compiled once, as
 *                                               its AVX2 clone
 *     CK_FORCE_ISA=CK_ISA_BASELINE swift build   once, as its baseline clone
 * The kernels' other choice made at run time, ck_transpose_block's, then takes the plain loop
 * too. The GEMM keeps choosing its path at run time (its tests run every path the CPU has):
 * set CK_GEMM_PATH=avx2 or portable as well for a program that runs no AVX-512 code at all.
 *
 * Not under ThreadSanitizer: the clones' ifunc resolvers run while the program is loaded,
 * before TSan has set itself up, and TSan's instrumentation of them crashes every program that
 * links the kernels before main; there, each kernel is compiled once, for the baseline
 * instruction set. */
#define CK_ISA_AVX2 2
#define CK_ISA_BASELINE 1
#if defined(CK_FORCE_ISA) && CK_FORCE_ISA != CK_ISA_AVX2 && CK_FORCE_ISA != CK_ISA_BASELINE
#error "CK_FORCE_ISA must be CK_ISA_AVX2 or CK_ISA_BASELINE"
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CK_THREAD_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) /* gcc's way of saying it */
#define CK_THREAD_SANITIZER 1
#endif

/* A function compiled for the target strings avx512 and avx2 (target attribute syntax) and
 * for the baseline, or for the one set CK_FORCE_ISA names. */
#if !defined(__x86_64__) || defined(CK_THREAD_SANITIZER)
#define CK_CLONES(avx512, avx2)
#elif !defined(CK_FORCE_ISA)
#define CK_CLONES(avx512, avx2) __attribute__((target_clones(avx512, avx2, "default")))
#elif CK_FORCE_ISA == CK_ISA_AVX2
#define CK_CLONES(avx512, avx2) __attribute__((target(avx2)))
#else
#define CK_CLONES(avx512, avx2)
#endif

#define CK_VECTORIZED CK_CLONES("avx512f", "avx2")

/* CK_VECTORIZED's instruction sets for a loop that calls fmaf, the AVX2 clone also given FMA
 * (x86-64-v3). fmaf rounds once on every path, in hardware or, in the baseline clone, in
 * libm: the same bits everywhere, only slower where the CPU has no FMA. (The AVX-512 clone has
 * FMA, the plain AVX2 and baseline ones do not: clang fuses a * b + c written in one
 * expression only in the first, unless the file turns FP_CONTRACT OFF.) */
#define CK_VECTORIZED_FMA CK_CLONES("avx512f", "arch=x86-64-v3")

/* CK_VECTORIZED's instruction sets for a loop of 64-bit integer products (a hash), the
 * AVX-512 clone also given AVX512DQ: its vpmullq multiplies 64-bit lanes in one instruction,
 * where AVX-512F alone builds each product from three 32 x 32-bit ones. Integer arithmetic:
 * the same bits on every path. */
#define CK_VECTORIZED_INT64 CK_CLONES("avx512dq", "avx2")

#endif
