/* The direct GEMM kernels (contract: gemm_direct.h), written once with vector extensions.
 * Included by gemm_direct_<path>.c, which first includes gemm_direct.h, scratch.h,
 * threading.h and <string.h>, then defines
 *   CK_DIRECT_LANES     floats per vector (16 AVX-512, 8 AVX2, 4 portable)
 *   CK_DIRECT_NAME(f)   the path's name of function f
 *   CK_DIRECT_MASKED    (AVX-512 only) partial vectors by masked loads and stores; without
 *                       it, partial columns are padded or go through a tile buffer
 * and compiles this file for its instruction set (#pragma clang attribute target).
 *
 * Multiply-adds are written `acc += x * y` and fused into one FMA wherever the target has
 * one (-ffp-contract=on), in vector lanes and scalar loops alike. */

enum { LANES = CK_DIRECT_LANES, ROWS = 4, COLUMNS = 4 };

#ifndef CK_DIRECT_MASKED
/* The broadcast form's copy of Y's last columns, padded to a whole vector. */
static _Thread_local ck_scratch padded_columns;
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

/* The first `count` floats at p, zeros in the other lanes; nothing past them is read. */
static inline vec vload_first(const float *p, int count) {
#ifdef CK_DIRECT_MASKED
    if (count < LANES) return _mm512_maskz_loadu_ps(first_lanes(count), p);
#else
    if (count < LANES) {
        float padded[LANES] = {0};
        memcpy(padded, p, (size_t)count * sizeof(float));
        return vload(padded);
    }
#endif
    return vload(p);
}

static inline void vstore_first(float *p, vec v, int count) {
#ifdef CK_DIRECT_MASKED
    if (count < LANES) {
        _mm512_mask_storeu_ps(p, first_lanes(count), v);
        return;
    }
#endif
    (void)count;
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
epilogue_tile(const int R, const int V, int last, vec t[ROWS][2], ck_gemm_epilogue e) {
    if (e.bias != NULL)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                t[r][v] += bias_lanes(ck_gemm_epilogue_at(e, r, v * LANES),
                                      v == V - 1 ? last : LANES);
    if (e.relu)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++) t[r][v] = relu_lanes(t[r][v]);
    if (e.mask != NULL)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                t[r][v] = mask_lanes(t[r][v], mask_values(ck_gemm_epilogue_at(e, r, v * LANES),
                                                          v == V - 1 ? last : LANES));
}

/* The epilogue on a block already stored (contract: gemm_direct.h): whole vectors along each
 * row, then the rest (masked, or one by one). */
void CK_DIRECT_NAME(ck_gemm_epilogue_block)(int64_t rows, int64_t cols, float *d, int64_t ldd,
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

/* dst (cols x rows, dense) = the transpose of src (rows x cols, leading dimension lds), one
 * row of dst at a time (writing all cols rows of dst at once measured 1.15x slower on the dot
 * form's 1024 x 10 B: its rows 4 KB apart evict one another); with AVX-512, a dense src of 2
 * to 4 columns in vectors (the spiral's 100 x 3 W2, twice a step: its 20x100x3 NN product
 * 334 -> 270 ns, its 20x3x100 NT 334 -> 285 ns, the training step 0.934x the time, 11
 * alternating runs). */
void CK_DIRECT_NAME(ck_gemm_transpose)(int64_t rows, int64_t cols, const float *src,
                                       int64_t lds, float *dst) {
#ifdef CK_DIRECT_MASKED
    if (lds == cols) {
        switch (cols) {
        case 2: transpose_narrow(2, rows, src, dst); return;
        case 3: transpose_narrow(3, rows, src, dst); return;
        case 4: transpose_narrow(4, rows, src, dst); return;
        default: break;
        }
    }
#endif
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) dst[j * rows + i] = src[i * lds + j];
}

/* ---- broadcast form -------------------------------------------------------------------- */

#ifdef CK_DIRECT_MASKED
/* Stores an R x V tile t (2 <= R, last valid columns in its last vector) whose element (r, j)
 * goes to d[j * R + r]: one contiguous block, filled by interleaving the rows' vectors with
 * two-source permutes (the inverse of transpose_narrow). R and V are constants after
 * inlining, so the permutes' indices are too. */
static inline __attribute__((always_inline)) void
store_interleaved(const int R, const int V, int last, vec t[ROWS][2], float *d) {
    const ivec lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int v = 0; v < V; v++) {
        const int floats = R * (v == V - 1 ? last : LANES); /* of these columns */
        float *block = d + v * LANES * R;
        for (int w = 0; w < R && LANES * w < floats; w++) {
            /* Lane l of vector w of the block is element o = 16w + l: row o % R, column o / R. */
            const ivec o = lane + LANES * w, row = o % R, column = o / R;
            vec out = t[0][v];
            for (int s = 0; s + 1 < R; s++) {
                /* Step s takes row s + 1's elements from the second operand (lane 16 + column);
                 * rows up to s stay: row 0's column from the first operand at step 0, the
                 * running result's own lane after it. */
                const ivec from_next = row == s + 1, keep = s == 0 ? column : lane;
                const ivec index = (from_next & (LANES + column)) | (~from_next & keep);
                out = (vec)_mm512_permutex2var_ps((__m512)out, (__m512i)index, (__m512)t[s + 1][v]);
            }
            const int left = floats - LANES * w; /* of the block, from this vector on */
            vstore_first(block + LANES * w, out, left < LANES ? left : LANES);
        }
    }
}
#endif

/* An R x (V vectors) tile of D, the last vector holding `last` valid columns: R rows of X
 * broadcast against V vectors of each row of Y (a partial last one is masked, or padded by
 * the caller). R and V are constants after inlining, so
 * the accumulators live in registers. */
static inline __attribute__((always_inline)) void
broadcast_tile(const int R, const int V, int last, int64_t k, float alpha, const float *x,
               int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float beta, float *d,
               int64_t rs_d, int64_t cs_d, ck_gemm_epilogue e) {
    vec acc[ROWS][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = vsplat(0.0f);
    for (int64_t p = 0; p < k; p++) {
        vec yv[2];
        for (int v = 0; v < V; v++)
            yv[v] = vload_first(y + p * ldy + v * LANES, v == V - 1 ? last : LANES);
        for (int r = 0; r < R; r++) {
            vec xr = vsplat(x[r * rs_x + p * cs_x]);
            for (int v = 0; v < V; v++) acc[r][v] += xr * yv[v];
        }
    }
#ifdef CK_DIRECT_MASKED
    const int direct = cs_d == 1;
#else
    const int direct = cs_d == 1 && last == LANES;
#endif
    /* The tile is finished in registers; with an epilogue, that runs on the whole tile
     * before it is stored (without one, each vector is stored as soon as it is finished). */
    const int epilogue = ck_gemm_epilogue_any(&e);
    if (direct) {
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++) {
                const int count = v == V - 1 ? last : LANES;
                acc[r][v] = finished(acc[r][v], count, alpha, beta, d + r * rs_d + v * LANES);
                if (!epilogue) vstore_first(d + r * rs_d + v * LANES, acc[r][v], count);
            }
        if (!epilogue) return;
        epilogue_tile(R, V, last, acc, e);
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                vstore_first(d + r * rs_d + v * LANES, acc[r][v], v == V - 1 ? last : LANES);
        return;
    }
#ifdef CK_DIRECT_MASKED
    /* D's R rows are all the columns of a dense C (the transposed problem: rs_d 1, cs_d R;
     * the spiral's dW2 = Hᵀ·dY, 100 x 3): the tile is one contiguous block of C, stored with
     * permutes rather than one float at a time (that product 243 -> 180 ns; the training step
     * 0.974x the time, 11 alternating runs). */
    if (R >= 2 && rs_d == 1 && cs_d == R && beta == 0.0f) {
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++) acc[r][v] = finished(acc[r][v], LANES, alpha, 0.0f, d);
        if (epilogue) epilogue_tile(R, V, last, acc, e);
        store_interleaved(R, V, last, acc, d);
        return;
    }
#endif
    /* A strided (or, without masks, partial) tile goes through a contiguous buffer holding
     * its valid part, so that every element sees the same operations as in a whole tile. */
    const int64_t columns = (V - 1) * LANES + last;
    float tile[ROWS][2 * LANES];
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; beta != 0.0f && j < columns; j++)
            tile[r][j] = d[r * rs_d + j * cs_d];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            acc[r][v] = finished(acc[r][v], LANES, alpha, beta, &tile[r][v * LANES]);
    if (epilogue) epilogue_tile(R, V, last, acc, e);
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) vstore(&tile[r][v * LANES], acc[r][v]);
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; j < columns; j++) d[r * rs_d + j * cs_d] = tile[r][j];
}

/* All m rows of a panel of D of V vectors (the last with `last` columns): blocks of ROWS
 * rows, then one tile of the rest. */
static inline __attribute__((always_inline)) void
broadcast_panel(const int V, int last, int64_t m, int64_t k, float alpha, const float *x,
                int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float beta, float *d,
                int64_t rs_d, int64_t cs_d, ck_gemm_epilogue e) {
    int64_t i = 0;
    for (; i + ROWS <= m; i += ROWS)
        broadcast_tile(ROWS, V, last, k, alpha, x + i * rs_x, rs_x, cs_x, y, ldy, beta,
                       d + i * rs_d, rs_d, cs_d, ck_gemm_epilogue_at(e, i, 0));
    const float *xi = x + i * rs_x;
    float *di = d + i * rs_d;
    const ck_gemm_epilogue ei = ck_gemm_epilogue_at(e, i, 0);
    switch (m - i) { /* the last m % ROWS rows in one tile */
    case 3: broadcast_tile(3, V, last, k, alpha, xi, rs_x, cs_x, y, ldy, beta, di, rs_d, cs_d, ei); break;
    case 2: broadcast_tile(2, V, last, k, alpha, xi, rs_x, cs_x, y, ldy, beta, di, rs_d, cs_d, ei); break;
    case 1: broadcast_tile(1, V, last, k, alpha, xi, rs_x, cs_x, y, ldy, beta, di, rs_d, cs_d, ei); break;
    default: break;
    }
}

/* All of D: panels of two vectors, then of one, then of the last n % LANES columns. */
static inline __attribute__((always_inline)) void
broadcast(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
          int64_t cs_x, const float *y, int64_t ldy, float beta, float *d, int64_t rs_d,
          int64_t cs_d, ck_gemm_epilogue e) {
    int64_t j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES)
        broadcast_panel(2, LANES, m, k, alpha, x, rs_x, cs_x, y + j, ldy, beta, d + j * cs_d,
                        rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
    for (; j + LANES <= n; j += LANES)
        broadcast_panel(1, LANES, m, k, alpha, x, rs_x, cs_x, y + j, ldy, beta, d + j * cs_d,
                        rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
    /* The last n % LANES columns. */
    const int rest = (int)(n - j);
    if (rest == 0) return;
#ifdef CK_DIRECT_MASKED
    broadcast_panel(1, rest, m, k, alpha, x, rs_x, cs_x, y + j, ldy, beta, d + j * cs_d, rs_d,
                    cs_d, ck_gemm_epilogue_at(e, 0, j));
#else
    /* Without masks, Y's last columns are copied into whole zero-padded vectors. */
    float *padded = ck_scratch_get(&padded_columns, (size_t)(k * LANES));
    for (int64_t p = 0; p < k; p++)
        for (int l = 0; l < LANES; l++) padded[p * LANES + l] = l < rest ? y[p * ldy + j + l] : 0.0f;
    broadcast_panel(1, rest, m, k, alpha, x, rs_x, cs_x, padded, LANES, beta, d + j * cs_d,
                    rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
#endif
}

/* Given no epilogue (NULL), the kernels run their body inlined with this constant one, which
 * folds every epilogue test away: the plain product pays nothing for the epilogue. */
static const ck_gemm_epilogue no_epilogue = {0};

/* The kinds of epilogue each direct form has its own out-of-line function for: inlined into
 * one, the bodies made the spiral's products about 30% slower, and a generic epilogue tests
 * for its absent parts on every element (the spiral's 20x100x3 with its bias, dot form:
 * 0.89x the time specialized).
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

/* The broadcast form for each kind of epilogue. */
__attribute__((noinline)) static void
broadcast_plain(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
                int64_t cs_x, const float *y, int64_t ldy, float beta, float *d, int64_t rs_d,
                int64_t cs_d) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, no_epilogue);
}

__attribute__((noinline)) static void
broadcast_bias_relu(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
                    int64_t cs_x, const float *y, int64_t ldy, float beta, float *d,
                    int64_t rs_d, int64_t cs_d, const ck_gemm_epilogue *e) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, bias_relu_part(e));
}

__attribute__((noinline)) static void
broadcast_mask(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
               int64_t cs_x, const float *y, int64_t ldy, float beta, float *d, int64_t rs_d,
               int64_t cs_d, const ck_gemm_epilogue *e) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, mask_part(e));
}

__attribute__((noinline)) static void
broadcast_any(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
              int64_t cs_x, const float *y, int64_t ldy, float beta, float *d, int64_t rs_d,
              int64_t cs_d, const ck_gemm_epilogue *e) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, *e);
}

#ifdef CK_DIRECT_MASKED
/* Products with at most SMALL_K terms per sum, alpha 1 and beta 0, D's rows contiguous (a
 * first layer with 2 or 3 inputs, dX of a layer with 3 outputs): a panel's k rows of Y, up
 * to ROW_PANEL vectors wide, and its bias stay in registers for all m rows of D, and each row
 * is finished and stored straight away, with no test left in the loop (the epilogue is one
 * of a few compiled in). Tiles of ROWS rows reload Y, test for the epilogue's parts and pay
 * their setup per tile, which for so few terms costs more than the arithmetic (the spiral's
 * 20x2x100 with bias and ReLU 254 -> 138 ns, its dX = dY·Wᵀ 20x3x100 with the ReLU's mask
 * 267 -> 194 ns; the training step 0.87x the time, 30 alternating runs). Each element is the
 * same multiply-add chain and epilogue as in a tile (alpha 1 and beta 0 leave the sum as it
 * is): the same bits. */
enum { SMALL_K = 4, ROW_PANEL = 4 };

/* The epilogues the row panels are compiled for. */
typedef enum { ROWS_PLAIN, ROWS_BIAS, ROWS_BIAS_RELU, ROWS_RELU, ROWS_MASK } rows_epilogue;

/* e's row-panel epilogue, or -1 when it has none (a bias per row, a mask and a bias, ...). */
static int rows_epilogue_of(const ck_gemm_epilogue *e) {
    if (e == NULL || !ck_gemm_epilogue_any(e)) return ROWS_PLAIN;
    if (e->mask != NULL) return e->bias == NULL && !e->relu && e->mcs == 1 ? ROWS_MASK : -1;
    if (e->bias == NULL) return ROWS_RELU;
    if (e->rs != 0 || e->cs != 1) return -1;
    return e->relu ? ROWS_BIAS_RELU : ROWS_BIAS;
}

/* All m rows of a panel of V vectors of D (the last with `last` columns), e being the
 * epilogue of the panel's element (0, 0); mode and V are constants after inlining. */
static inline __attribute__((always_inline)) void
rows_panel(const rows_epilogue mode, const int V, int last, int64_t m, int64_t k,
           const float *x, int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float *d,
           int64_t rs_d, const ck_gemm_epilogue *e) {
    const int bias = mode == ROWS_BIAS || mode == ROWS_BIAS_RELU;
    const int relu = mode == ROWS_BIAS_RELU || mode == ROWS_RELU;
    vec yv[SMALL_K][ROW_PANEL], bias_v[ROW_PANEL];
    for (int v = 0; v < V; v++) {
        const int count = v == V - 1 ? last : LANES;
        for (int p = 0; p < SMALL_K && p < k; p++)
            yv[p][v] = vload_first(y + p * ldy + v * LANES, count);
        if (bias) bias_v[v] = vload_first(e->bias + v * LANES, count);
    }
    for (int64_t i = 0; i < m; i++) {
        vec acc[ROW_PANEL];
        for (int v = 0; v < V; v++) acc[v] = vsplat(0.0f);
        for (int p = 0; p < SMALL_K && p < k; p++) {
            const vec xp = vsplat(x[i * rs_x + p * cs_x]);
            for (int v = 0; v < V; v++) acc[v] += xp * yv[p][v];
        }
        for (int v = 0; v < V; v++) {
            const int count = v == V - 1 ? last : LANES;
            vec t = acc[v];
            if (bias) t += bias_v[v];
            if (relu) t = relu_lanes(t);
            if (mode == ROWS_MASK)
                t = mask_lanes(t, vload_first(e->mask + i * e->mrs + v * LANES, count));
            vstore_first(d + i * rs_d + v * LANES, t, count);
        }
    }
}

/* All of D in row panels: ROW_PANEL vectors at a time, then one panel of the rest. */
static inline __attribute__((always_inline)) void
rows_all(const rows_epilogue mode, int64_t m, int64_t n, int64_t k, const float *x,
         int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float *d, int64_t rs_d,
         const ck_gemm_epilogue *e) {
    int64_t j = 0;
    for (; j + ROW_PANEL * LANES <= n; j += ROW_PANEL * LANES) {
        const ck_gemm_epilogue ej = e != NULL ? ck_gemm_epilogue_at(*e, 0, j) : no_epilogue;
        rows_panel(mode, ROW_PANEL, LANES, m, k, x, rs_x, cs_x, y + j, ldy, d + j, rs_d, &ej);
    }
    if (j == n) return;
    const ck_gemm_epilogue ej = e != NULL ? ck_gemm_epilogue_at(*e, 0, j) : no_epilogue;
    const int last = (int)((n - j - 1) % LANES) + 1;
    switch ((n - j + LANES - 1) / LANES) { /* vectors of the last columns */
    case 4: rows_panel(mode, 4, last, m, k, x, rs_x, cs_x, y + j, ldy, d + j, rs_d, &ej); break;
    case 3: rows_panel(mode, 3, last, m, k, x, rs_x, cs_x, y + j, ldy, d + j, rs_d, &ej); break;
    case 2: rows_panel(mode, 2, last, m, k, x, rs_x, cs_x, y + j, ldy, d + j, rs_d, &ej); break;
    default: rows_panel(mode, 1, last, m, k, x, rs_x, cs_x, y + j, ldy, d + j, rs_d, &ej); break;
    }
}

/* rows_all compiled for each epilogue. */
__attribute__((noinline)) static void
broadcast_rows(rows_epilogue mode, int64_t m, int64_t n, int64_t k, const float *x,
               int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float *d, int64_t rs_d,
               const ck_gemm_epilogue *e) {
    switch (mode) {
    case ROWS_PLAIN: rows_all(ROWS_PLAIN, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    case ROWS_BIAS: rows_all(ROWS_BIAS, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    case ROWS_BIAS_RELU:
        rows_all(ROWS_BIAS_RELU, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e);
        break;
    case ROWS_RELU: rows_all(ROWS_RELU, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    case ROWS_MASK: rows_all(ROWS_MASK, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    }
}
#endif

void CK_DIRECT_NAME(ck_gemm_direct_broadcast)(int64_t m, int64_t n, int64_t k, float alpha,
                                              const float *x, int64_t rs_x, int64_t cs_x,
                                              const float *y, int64_t ldy, float beta, float *d,
                                              int64_t rs_d, int64_t cs_d,
                                              const ck_gemm_epilogue *e) {
#ifdef CK_DIRECT_MASKED
    if (k <= SMALL_K && cs_d == 1 && alpha == 1.0f && beta == 0.0f) {
        const int mode = rows_epilogue_of(e);
        if (mode >= 0) {
            broadcast_rows((rows_epilogue)mode, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e);
            return;
        }
    }
#endif
    switch (kind_of(e)) {
    case EPILOGUE_NONE:
        broadcast_plain(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d);
        break;
    case EPILOGUE_BIAS_RELU:
        broadcast_bias_relu(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, e);
        break;
    case EPILOGUE_MASK:
        broadcast_mask(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, e);
        break;
    case EPILOGUE_ANY:
        broadcast_any(m, n, k, alpha, x, rs_x, cs_x, y, ldy, beta, d, rs_d, cs_d, e);
        break;
    }
}

/* ---- dot form -------------------------------------------------------------------------- */

/* The lane sums of up to LANES vectors at once, by a tree: each step adds the halves of every
 * block of w lanes, of two vectors together, into one vector (blocks of w/2 lanes, a's then
 * b's), so log2(LANES) steps leave lane t holding the sum of vector t. Each sum is the same
 * fixed pairwise one as halving a single vector (lane l plus lane l + LANES/2, and so on),
 * at about a quarter of the shuffles and adds of reducing the vectors one by one (the
 * spiral's 20x100x3: 0.88x the time; 256x1024x10: 0.95x). */
#define CK_SHUF(...) __builtin_shufflevector(a, b, __VA_ARGS__)
static inline vec tree_step(vec a, vec b, const int w) {
#if CK_DIRECT_LANES == 16
    switch (w) {
    case 16: return CK_SHUF(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                    CK_SHUF(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    case 8: return CK_SHUF(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
                   CK_SHUF(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    case 4: return CK_SHUF(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
                   CK_SHUF(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    default: return CK_SHUF(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
                    CK_SHUF(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    }
#elif CK_DIRECT_LANES == 8
    switch (w) {
    case 8: return CK_SHUF(0, 1, 2, 3, 8, 9, 10, 11) + CK_SHUF(4, 5, 6, 7, 12, 13, 14, 15);
    case 4: return CK_SHUF(0, 1, 4, 5, 8, 9, 12, 13) + CK_SHUF(2, 3, 6, 7, 10, 11, 14, 15);
    default: return CK_SHUF(0, 2, 4, 6, 8, 10, 12, 14) + CK_SHUF(1, 3, 5, 7, 9, 11, 13, 15);
    }
#else
    return w == 4 ? CK_SHUF(0, 1, 4, 5) + CK_SHUF(2, 3, 6, 7)
                  : CK_SHUF(0, 2, 4, 6) + CK_SHUF(1, 3, 5, 7);
#endif
}
#undef CK_SHUF

/* acc[r][c] += the next `count` terms (LANES, or fewer where CK_DIRECT_MASKED) of row r of
 * X times row c of Yt, lane by lane. */
static inline __attribute__((always_inline)) void
dot_step(const int R, const int C, int count, const float *x, int64_t ldx, const float *yt,
         int64_t ldyt, vec acc[ROWS][COLUMNS]) {
    vec xv[ROWS], yv[COLUMNS];
    for (int r = 0; r < R; r++) xv[r] = vload_first(x + r * ldx, count);
    for (int c = 0; c < C; c++) yv[c] = vload_first(yt + c * ldyt, count);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] += xv[r] * yv[c];
}

/* An R x C tile of D: R rows of X against C rows of Yt, vectors along p; without masks the
 * last k % LANES terms are added one by one after the lanes are summed. */
static inline __attribute__((always_inline)) void
dot_tile(const int R, const int C, int64_t k, float alpha, const float *x, int64_t ldx,
         const float *yt, int64_t ldyt, float beta, float *d, int64_t ldd, ck_gemm_epilogue e) {
    vec acc[ROWS][COLUMNS];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = vsplat(0.0f);
    int64_t p = 0;
    for (; p + LANES <= k; p += LANES) dot_step(R, C, LANES, x + p, ldx, yt + p, ldyt, acc);
#ifdef CK_DIRECT_MASKED
    /* The last k % LANES terms under a mask: the zeros in the other lanes add nothing. */
    if (p < k) {
        dot_step(R, C, (int)(k - p), x + p, ldx, yt + p, ldyt, acc);
        p = k;
    }
#endif
    /* sums[r*C + c]: the lane sum of acc[r][c]; LANES accumulators (the last group padded
     * with zeros) per reduction tree. */
    _Static_assert(ROWS * COLUMNS % LANES == 0, "sums holds whole groups");
    float sums[ROWS * COLUMNS];
#pragma clang loop unroll(full)
    for (int g = 0; g < R * C; g += LANES) {
        vec t[LANES];
#pragma clang loop unroll(full)
        for (int l = 0; l < LANES; l++)
            t[l] = g + l < R * C ? acc[(g + l) / C][(g + l) % C] : vsplat(0.0f);
        /* w vectors in t[0 .. w) -> w/2; unrolled, so that t lives in registers. */
#pragma clang loop unroll(full)
        for (int w = LANES; w > 1; w /= 2)
#pragma clang loop unroll(full)
            for (int l = 0; l < w / 2; l++) t[l] = tree_step(t[2 * l], t[2 * l + 1], w);
        vstore(sums + g, t[0]);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float sum = sums[r * C + c];
            for (int64_t q = p; q < k; q++) sum += x[r * ldx + q] * yt[c * ldyt + q];
            const float v = finish(sum, alpha, beta, d + r * ldd + c);
            d[r * ldd + c] = ck_gemm_epilogue_element(&e, r, c, v);
        }
}

/* R rows of D (R <= ROWS), all columns: tiles of COLUMNS columns, then one of the rest. */
static inline __attribute__((always_inline)) void
dot_row_block(const int R, int64_t n, int64_t k, float alpha, const float *x, int64_t ldx,
              const float *yt, int64_t ldyt, float beta, float *d, int64_t ldd,
              ck_gemm_epilogue e) {
    int64_t j = 0;
    for (; j + COLUMNS <= n; j += COLUMNS)
        dot_tile(R, COLUMNS, k, alpha, x, ldx, yt + j * ldyt, ldyt, beta, d + j, ldd,
                 ck_gemm_epilogue_at(e, 0, j));
    const float *ytj = yt + j * ldyt;
    const ck_gemm_epilogue ej = ck_gemm_epilogue_at(e, 0, j);
    switch (n - j) { /* the last n % COLUMNS columns in one tile */
    case 3: dot_tile(R, 3, k, alpha, x, ldx, ytj, ldyt, beta, d + j, ldd, ej); break;
    case 2: dot_tile(R, 2, k, alpha, x, ldx, ytj, ldyt, beta, d + j, ldd, ej); break;
    case 1: dot_tile(R, 1, k, alpha, x, ldx, ytj, ldyt, beta, d + j, ldd, ej); break;
    default: break;
    }
}

typedef struct {
    int64_t m, n, k, ldx, ldyt, ldd;
    float alpha, beta;
    const float *x, *yt;
    float *d;
    const ck_gemm_epilogue *e; /* NULL: none */
} dot_args;

/* Rows [begin, end) of D, all columns: blocks of ROWS rows, then one block of the rest. */
static inline __attribute__((always_inline)) void
dot_rows_with(const dot_args *a, int64_t begin, int64_t end, ck_gemm_epilogue e) {
    int64_t i = begin;
    for (; i + ROWS <= end; i += ROWS)
        dot_row_block(ROWS, a->n, a->k, a->alpha, a->x + i * a->ldx, a->ldx, a->yt, a->ldyt,
                      a->beta, a->d + i * a->ldd, a->ldd, ck_gemm_epilogue_at(e, i, 0));
    const float *xi = a->x + i * a->ldx;
    float *di = a->d + i * a->ldd;
    const ck_gemm_epilogue ei = ck_gemm_epilogue_at(e, i, 0);
    switch (end - i) {
    case 3: dot_row_block(3, a->n, a->k, a->alpha, xi, a->ldx, a->yt, a->ldyt, a->beta, di, a->ldd, ei); break;
    case 2: dot_row_block(2, a->n, a->k, a->alpha, xi, a->ldx, a->yt, a->ldyt, a->beta, di, a->ldd, ei); break;
    case 1: dot_row_block(1, a->n, a->k, a->alpha, xi, a->ldx, a->yt, a->ldyt, a->beta, di, a->ldd, ei); break;
    default: break;
    }
}

/* Rows [begin, end) of the product in a, with the epilogue e of D's element (0, 0) (NULL:
 * none): one out-of-line function per kind of epilogue, as in the broadcast form. */
__attribute__((noinline)) static void dot_plain(const dot_args *a, int64_t begin, int64_t end) {
    dot_rows_with(a, begin, end, no_epilogue);
}

__attribute__((noinline)) static void dot_bias_relu(const dot_args *a, int64_t begin, int64_t end,
                                                    const ck_gemm_epilogue *e) {
    dot_rows_with(a, begin, end, bias_relu_part(e));
}

__attribute__((noinline)) static void dot_mask(const dot_args *a, int64_t begin, int64_t end,
                                               const ck_gemm_epilogue *e) {
    dot_rows_with(a, begin, end, mask_part(e));
}

__attribute__((noinline)) static void dot_any(const dot_args *a, int64_t begin, int64_t end,
                                              const ck_gemm_epilogue *e) {
    dot_rows_with(a, begin, end, *e);
}

static void dot_rows_epilogue(const dot_args *a, int64_t begin, int64_t end,
                              const ck_gemm_epilogue *e) {
    switch (kind_of(e)) {
    case EPILOGUE_NONE: dot_plain(a, begin, end); break;
    case EPILOGUE_BIAS_RELU: dot_bias_relu(a, begin, end, e); break;
    case EPILOGUE_MASK: dot_mask(a, begin, end, e); break;
    case EPILOGUE_ANY: dot_any(a, begin, end, e); break;
    }
}

static void dot_rows(const void *args, int64_t begin, int64_t end) {
    const dot_args *a = args;
    dot_rows_epilogue(a, begin, end, a->e);
}

/* Columns of D per block of dot_columns: DOT_COLUMN_BLOCK rows of Yt (64 x k floats), read
 * from memory once and from cache by every row block of X. */
enum { DOT_COLUMN_BLOCK = 64 };

/* Columns [begin, end) of D, all rows, in blocks of DOT_COLUMN_BLOCK columns. */
static void dot_columns(const void *args, int64_t begin, int64_t end) {
    const dot_args *a = args;
    for (int64_t j = begin; j < end; j += DOT_COLUMN_BLOCK) {
        dot_args block = *a;
        block.n = end - j < DOT_COLUMN_BLOCK ? end - j : DOT_COLUMN_BLOCK;
        block.yt = a->yt + j * a->ldyt;
        block.d = a->d + j;
        const ck_gemm_epilogue ej = a->e != NULL ? ck_gemm_epilogue_at(*a->e, 0, j) : no_epilogue;
        dot_rows_epilogue(&block, 0, a->m, a->e != NULL ? &ej : NULL);
    }
}

/* Split by rows when D is taller than wide, else by columns (a small batch times a wide
 * Yt): every thread then reads only its own rows of Yt, each block of them once. */
void CK_DIRECT_NAME(ck_gemm_direct_dot)(int64_t m, int64_t n, int64_t k, float alpha,
                                        const float *x, int64_t ldx, const float *yt,
                                        int64_t ldyt, float beta, float *d, int64_t ldd,
                                        const ck_gemm_epilogue *e) {
    dot_args args = {m, n, k, ldx, ldyt, ldd, alpha, beta, x, yt, d, e};
    const int threads = ck_threads_for(m * n * k, CK_GEMM_MIN_WORK_PER_THREAD);
    if (m >= n)
        ck_parallel_for(m, ROWS, threads, dot_rows, &args);
    else
        ck_parallel_for(n, COLUMNS, threads, dot_columns, &args);
}
