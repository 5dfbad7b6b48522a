/* The direct GEMM kernels (contract: gemm_direct.h), written once with vector extensions:
 * what the broadcast form (gemm_direct_broadcast.h) and the dot form (gemm_direct_dot.h)
 * share, and the epilogue on a stored block and the transposed copy of B (epilogue_block,
 * transpose). Included, with those two, by gemm_isa_<path>.c, which first includes
 * gemm_direct.h, scratch.h, threading.h and <string.h> (and for AVX-512
 * gemm_transpose_avx512.h), then defines
 *   CK_DIRECT_LANES     floats per vector (16 AVX-512, 8 AVX2, 4 portable)
 *   CK_DIRECT_MASKED    (AVX-512 only) partial vectors by masked loads and stores; without
 *                       it, partial columns are padded or go through a tile buffer
 * and compiles them for its instruction set (#pragma clang attribute target). Every function
 * is static: the including file names the ones it exports in its ck_gemm_isa table.
 *
 * Multiply-adds are written `acc += x * y` and fused into one FMA wherever the target has
 * one (-ffp-contract=on), in vector lanes and scalar loops alike. */

enum { LANES = CK_DIRECT_LANES, ROWS = 4, COLUMNS = 4 };
/* Rows of D in a tile of the broadcast form (gemm_direct_broadcast.h), by two vectors: with
 * AVX-512's 32 registers, 8 x 2 accumulators, so that each row of Y loaded serves 8 rows of X
 * (C's transpose of a layer with 10 outputs is one tile of 8 rows and one of 2, not 4, 4 and
 * 2); with 16 registers, 4 x 2. The loops over a tile's rows are unrolled in full (clang's
 * heuristics stop short of 8), or its accumulators would be kept in memory. */
#ifdef CK_DIRECT_MASKED
enum { BROADCAST_ROWS = 8 };
#else
enum { BROADCAST_ROWS = ROWS };
#endif

typedef float vec __attribute__((vector_size(CK_DIRECT_LANES * sizeof(float))));
typedef int32_t ivec __attribute__((vector_size(CK_DIRECT_LANES * sizeof(int32_t))));

static inline vec vload(const float *p) {
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vec v) { memcpy(p, &v, sizeof v); }
/* Every lane s (s - 0 is s exactly, even for -0 and NaN, so this folds to a broadcast). */
static inline vec vsplat(float s) { return s - (vec){0}; }

/* alpha * acc, then beta * old + that unless beta == 0 (old not read): as the microkernels. */
static inline float finish(float acc, float alpha, float beta, const float *old) {
    float r = alpha * acc;
    return beta == 0.0f ? r : beta * *old + r;
}

#ifdef CK_DIRECT_MASKED
/* AVX-512 loads and stores the first `count` lanes of a partial vector under a mask. */
static inline __mmask16 first_lanes(int count) { return (__mmask16)((1u << count) - 1u); }
#endif

#ifndef CK_DIRECT_MASKED
/* Copies the first `count` (< LANES) floats of src to dst in pieces of 4, 2 and 1 floats:
 * copies of constant size, which compile to single moves, where a copy of `count` floats
 * would call memcpy. */
static inline void copy_first(float *dst, const float *src, int count) {
    int j = 0;
    if (LANES > 4 && (count & 4)) {
        memcpy(dst, src, 4 * sizeof(float));
        j = 4;
    }
    if (count & 2) {
        memcpy(dst + j, src + j, 2 * sizeof(float));
        j += 2;
    }
    if (count & 1) dst[j] = src[j];
}
#endif

/* The first `count` floats at p, zeros in the other lanes; nothing past them is read. */
static inline vec vload_first(const float *p, int count) {
#ifdef CK_DIRECT_MASKED
    if (count < LANES) return _mm512_maskz_loadu_ps(first_lanes(count), p);
#else
    if (count < LANES) {
        float padded[LANES] = {0};
        copy_first(padded, p, count);
        return vload(padded);
    }
#endif
    return vload(p);
}

/* The first `count` lanes of v stored at p; nothing past them is written. */
static inline void vstore_first(float *p, vec v, int count) {
    if (count < LANES) {
#ifdef CK_DIRECT_MASKED
        _mm512_mask_storeu_ps(p, first_lanes(count), v);
#else
        float padded[LANES];
        vstore(padded, v);
        copy_first(p, padded, count);
#endif
        return;
    }
    vstore(p, v);
}

/* alpha * acc + beta * d (beta == 0: d not read), for the first `count` lanes of d: the
 * same operations as finish() in every lane (alpha * acc is acc itself when alpha is 1). */
static inline vec finished(vec acc, int count, float alpha, float beta, const float *d) {
    vec r = alpha == 1.0f ? acc : vsplat(alpha) * acc;
    if (beta != 0.0f) r = vsplat(beta) * vload_first(d, count) + r;
    return r;
}

/* The epilogue (gemm_direct.h) in vectors: the bias of D's elements (0, 0 .. count) of e,
 * one value (cs == 0) or `count` contiguous ones (cs == 1), nothing past them read; and the
 * ReLU x < 0 ? +0 : x, by clearing the bits of the lanes below zero. */
static inline vec bias_lanes(ck_gemm_epilogue e, int count) {
    return e.cs == 0 ? vsplat(*e.bias) : vload_first(e.bias, count);
}
static inline vec relu_lanes(vec t) { return (vec)((ivec)t & ~(t < vsplat(0.0f))); }

/* t where y > 0, else +0 (the mask of the epilogue, y being the mask's lanes). */
static inline vec mask_lanes(vec t, vec y) { return (vec)((ivec)t & (y > vsplat(0.0f))); }

/* The first `count` values of the mask's row of D at e, strided (mcs != 1: D transposed);
 * zeros in the other lanes. Out of line: it is the rare case. */
__attribute__((noinline)) static vec mask_strided(ck_gemm_epilogue e, int count) {
    float strided[LANES] = {0};
    for (int l = 0; l < count; l++) strided[l] = e.mask[l * e.mcs];
    return vload(strided);
}

/* The mask's lanes of D's row at e, `count` of them (others zero). */
static inline vec mask_values(ck_gemm_epilogue e, int count) {
    return e.mcs == 1 ? vload_first(e.mask, count) : mask_strided(e, count);
}

/* The epilogue of an R x V tile t of finished vectors, whose element (0, 0) is e's and whose
 * last vector holds `last` valid columns; tested once per tile. */
static inline __attribute__((always_inline)) void
epilogue_tile(const int R, const int V, int last, vec t[BROADCAST_ROWS][2], ck_gemm_epilogue e) {
    if (e.bias != NULL) {
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                t[r][v] += bias_lanes(ck_gemm_epilogue_at(e, r, v * LANES),
                                      v == V - 1 ? last : LANES);
    }
    if (e.relu) {
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++) t[r][v] = relu_lanes(t[r][v]);
    }
    if (e.mask != NULL) {
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                t[r][v] = mask_lanes(t[r][v], mask_values(ck_gemm_epilogue_at(e, r, v * LANES),
                                                          v == V - 1 ? last : LANES));
    }
}

/* The epilogue on a block already stored (contract: gemm_direct.h): whole vectors along each
 * row, then the rest (masked, or one by one). */
static void epilogue_block(int64_t rows, int64_t cols, float *d, int64_t ldd,
                           const ck_gemm_epilogue *e) {
    for (int64_t i = 0; i < rows; i++) {
        const ck_gemm_epilogue ei = ck_gemm_epilogue_at(*e, i, 0);
        float *row = d + i * ldd;
        int64_t j = 0;
        for (; j < cols; j += LANES) {
            const int count = cols - j < LANES ? (int)(cols - j) : LANES;
#ifndef CK_DIRECT_MASKED
            if (count < LANES) break; /* the rest one by one, below */
#endif
            vec t = vload_first(row + j, count);
            if (ei.bias != NULL) t += bias_lanes(ck_gemm_epilogue_at(ei, 0, j), count);
            if (ei.relu) t = relu_lanes(t);
            if (ei.mask != NULL)
                t = mask_lanes(t, mask_values(ck_gemm_epilogue_at(ei, 0, j), count));
            vstore_first(row + j, t, count);
        }
        for (; j < cols; j++) row[j] = ck_gemm_epilogue_element(&ei, 0, j, row[j]);
    }
}

/* ---- transposed copies ------------------------------------------------------------------ */

#ifdef CK_DIRECT_MASKED
/* dst (cols x rows, dense) = the transpose of src (rows x cols, dense), 2 <= cols <= 4, in
 * blocks of 16 rows: their 16 * cols floats are contiguous, loaded as cols vectors v[0..cols);
 * row j of the block's transpose takes float l * cols + j into lane l, gathered by a chain of
 * two-source permutes (step s adds the floats that lie in v[s + 1]). The last rows % 16 rows
 * the same way under masks. cols is a constant after inlining: v and the permutes' indices
 * stay in registers. */
static inline __attribute__((always_inline)) void
transpose_narrow(const int cols, int64_t rows, const float *src, float *dst) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i index[4][3]; /* [j][s]: the permute of step s for row j */
    for (int j = 0; j < cols; j++) {
        /* e: which float of the block lane l of row j wants. */
        const __m512i e = _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(cols)),
                                           _mm512_set1_epi32(j));
        for (int s = 0; s + 1 < cols; s++) {
            /* Floats in v[s + 1] come from the second operand (16 + their lane there); the
             * others stay where the first operand has them: v[0]'s own lane e at step 0,
             * lane l of the running result after it. */
            const __m512i from_next = _mm512_sub_epi32(e, _mm512_set1_epi32(16 * s));
            const __m512i keep = s == 0 ? e : lane;
            const __mmask16 in_next = _mm512_cmpge_epi32_mask(e, _mm512_set1_epi32(16 * (s + 1)));
            index[j][s] = _mm512_mask_mov_epi32(keep, in_next, from_next);
        }
    }
    for (int64_t i = 0; i < rows; i += 16) {
        const int count = rows - i < 16 ? (int)(rows - i) : 16; /* rows in this block */
        const int64_t floats = (int64_t)count * cols;
        __m512 v[4];
        for (int s = 0; s < cols; s++) {
            const int64_t left = floats - 16 * s;
            const float *from = src + i * cols + 16 * s;
            v[s] = left >= 16 ? _mm512_loadu_ps(from)
                   : left > 0 ? _mm512_maskz_loadu_ps(first_lanes((int)left), from)
                              : _mm512_setzero_ps();
        }
        for (int j = 0; j < cols; j++) {
            __m512 row = v[0];
            for (int s = 0; s + 1 < cols; s++)
                row = _mm512_permutex2var_ps(row, index[j][s], v[s + 1]);
            vstore_first(dst + j * rows + i, row, count);
        }
    }
}
#endif

/* dst (cols x rows, dense) = the transpose of src (rows x cols, leading dimension lds). With
 * AVX-512, a dense src of 2 to 4 columns (the spiral's 100 x 3 W2) in vectors of whole rows,
 * any other in blocks of 16 x 16 (gemm_transpose_avx512.h); elsewhere one row of dst at a
 * time (writing all cols rows of dst at once, rows of dst far apart evict one another). */
static void transpose(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst) {
#ifdef CK_DIRECT_MASKED
    if (lds == cols) {
        switch (cols) {
        case 2: transpose_narrow(2, rows, src, dst); return;
        case 3: transpose_narrow(3, rows, src, dst); return;
        case 4: transpose_narrow(4, rows, src, dst); return;
        default: break;
        }
    }
    ck_transpose_blocks_avx512(rows, cols, src, lds, dst, rows);
#else
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) dst[j * rows + i] = src[i * lds + j];
#endif
}

/* Given no epilogue (NULL), the kernels run their body inlined with this constant one, which
 * folds every epilogue test away: the plain product pays nothing for the epilogue. */
static const ck_gemm_epilogue no_epilogue = {0};

/* The kinds of epilogue each direct form has its own out-of-line function for (in one body
 * for all of them, a generic epilogue would test for its absent parts on every element; in
 * each kind's own body the parts it lacks are constants, and their tests fold away):
 *   none;
 *   bias and ReLU only (a layer's forward pass): the constant NULL mask folds its code away;
 *   the ReLU's mask alone, along D's rows (the backward pass's dX = dY·Wᵀ): the constant
 *   bias, ReLU and mask stride fold away;
 *   anything else. */
typedef enum { EPILOGUE_NONE, EPILOGUE_BIAS_RELU, EPILOGUE_MASK, EPILOGUE_ANY } epilogue_kind;

static inline epilogue_kind kind_of(const ck_gemm_epilogue *e) {
    if (e == NULL) return EPILOGUE_NONE;
    if (e->mask == NULL) return EPILOGUE_BIAS_RELU;
    if (e->bias == NULL && !e->relu && e->mcs == 1) return EPILOGUE_MASK;
    return EPILOGUE_ANY;
}

/* e with only the fields its kind uses, the others constant. */
static inline ck_gemm_epilogue bias_relu_part(const ck_gemm_epilogue *e) {
    return (ck_gemm_epilogue){.bias = e->bias, .rs = e->rs, .cs = e->cs, .relu = e->relu};
}
static inline ck_gemm_epilogue mask_part(const ck_gemm_epilogue *e) {
    return (ck_gemm_epilogue){.mask = e->mask, .mrs = e->mrs, .mcs = 1};
}
