/* The direct GEMM kernels (contract: gemm_direct.h), written once with vector extensions.
 * Included by gemm_direct_<path>.c, which first includes gemm_direct.h, scratch.h,
 * threading.h and <string.h>, then defines
 *   CK_DIRECT_LANES     floats per vector (16 AVX-512, 8 AVX2, 4 portable)
 *   CK_DIRECT_NAME(f)   the path's name of function f
 * and compiles this file for its instruction set (#pragma clang attribute target).
 *
 * Multiply-adds are written `acc += x * y` and fused into one FMA wherever the target has
 * one (-ffp-contract=on), in vector lanes and scalar loops alike. */

enum { LANES = CK_DIRECT_LANES, ROWS = 4, COLUMNS = 4 };

/* The broadcast form's copy of Y's last columns, padded to a whole vector. */
static _Thread_local ck_scratch padded_columns;
typedef float vec __attribute__((vector_size(CK_DIRECT_LANES * sizeof(float))));

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

/* alpha * acc + beta * d (beta == 0: d not read) into d, a whole contiguous vector: the
 * same operations as finish() in every lane. */
static inline void store_finished(vec acc, float alpha, float beta, float *d) {
    vec r = vsplat(alpha) * acc;
    if (beta != 0.0f) r = vsplat(beta) * vload(d) + r;
    vstore(d, r);
}

/* ---- broadcast form -------------------------------------------------------------------- */

/* An R x (V vectors) tile of D, the last vector holding `last` valid columns: R rows of X
 * broadcast against V whole vectors of each row of Y (which the caller pads). R and V are constants after inlining, so
 * the accumulators live in registers. */
static inline __attribute__((always_inline)) void
broadcast_tile(const int R, const int V, int last, int64_t k, float alpha, const float *x,
               int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float beta, float *d,
               int64_t rs_d, int64_t cs_d) {
    vec acc[ROWS][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = vsplat(0.0f);
    for (int64_t p = 0; p < k; p++) {
        vec yv[2];
        for (int v = 0; v < V; v++) yv[v] = vload(y + p * ldy + v * LANES);
        for (int r = 0; r < R; r++) {
            vec xr = vsplat(x[r * rs_x + p * cs_x]);
            for (int v = 0; v < V; v++) acc[r][v] += xr * yv[v];
        }
    }
    if (cs_d == 1 && last == LANES) {
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                store_finished(acc[r][v], alpha, beta, d + r * rs_d + v * LANES);
        return;
    }
    /* A partial or strided tile goes through a contiguous buffer holding its valid part, so
     * that every element sees the same operations as in a whole tile. */
    const int64_t columns = (V - 1) * LANES + last;
    float tile[ROWS][2 * LANES];
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; beta != 0.0f && j < columns; j++)
            tile[r][j] = d[r * rs_d + j * cs_d];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) store_finished(acc[r][v], alpha, beta, &tile[r][v * LANES]);
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; j < columns; j++) d[r * rs_d + j * cs_d] = tile[r][j];
}

/* All m rows of a panel of D of V vectors (the last with `last` columns): blocks of ROWS
 * rows, then single rows. */
static inline __attribute__((always_inline)) void
broadcast_panel(const int V, int last, int64_t m, int64_t k, float alpha, const float *x,
                int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, float beta, float *d,
                int64_t rs_d, int64_t cs_d) {
    int64_t i = 0;
    for (; i + ROWS <= m; i += ROWS)
        broadcast_tile(ROWS, V, last, k, alpha, x + i * rs_x, rs_x, cs_x, y, ldy, beta,
                       d + i * rs_d, rs_d, cs_d);
    for (; i < m; i++)
        broadcast_tile(1, V, last, k, alpha, x + i * rs_x, rs_x, cs_x, y, ldy, beta,
                       d + i * rs_d, rs_d, cs_d);
}

void CK_DIRECT_NAME(ck_gemm_direct_broadcast)(int64_t m, int64_t n, int64_t k, float alpha,
                                              const float *x, int64_t rs_x, int64_t cs_x,
                                              const float *y, int64_t ldy, float beta, float *d,
                                              int64_t rs_d, int64_t cs_d) {
    int64_t j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES)
        broadcast_panel(2, LANES, m, k, alpha, x, rs_x, cs_x, y + j, ldy, beta, d + j * cs_d,
                        rs_d, cs_d);
    for (; j + LANES <= n; j += LANES)
        broadcast_panel(1, LANES, m, k, alpha, x, rs_x, cs_x, y + j, ldy, beta, d + j * cs_d,
                        rs_d, cs_d);
    /* The last n % LANES columns: Y's are copied into whole zero-padded vectors. */
    const int rest = (int)(n - j);
    if (rest == 0) return;
    float *padded = ck_scratch_get(&padded_columns, (size_t)(k * LANES));
    for (int64_t p = 0; p < k; p++) {
        memcpy(padded + p * LANES, y + p * ldy + j, (size_t)rest * sizeof(float));
        memset(padded + p * LANES + rest, 0, (size_t)(LANES - rest) * sizeof(float));
    }
    broadcast_panel(1, rest, m, k, alpha, x, rs_x, cs_x, padded, LANES, beta, d + j * cs_d,
                    rs_d, cs_d);
}

/* ---- dot form -------------------------------------------------------------------------- */

/* Sum of the lanes, halving: lane l plus lane l + width/2, down to one lane. */
typedef float vec8 __attribute__((vector_size(8 * sizeof(float))));
typedef float vec4 __attribute__((vector_size(4 * sizeof(float))));
typedef float vec2 __attribute__((vector_size(2 * sizeof(float))));
static inline float sum_lanes(vec v) {
#if CK_DIRECT_LANES == 16
    vec8 v8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
              __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#elif CK_DIRECT_LANES == 8
    vec8 v8 = v;
#endif
#if CK_DIRECT_LANES >= 8
    vec4 v4 = __builtin_shufflevector(v8, v8, 0, 1, 2, 3) + __builtin_shufflevector(v8, v8, 4, 5, 6, 7);
#else
    vec4 v4 = v;
#endif
    vec2 v2 = __builtin_shufflevector(v4, v4, 0, 1) + __builtin_shufflevector(v4, v4, 2, 3);
    return v2[0] + v2[1];
}

/* An R x C tile of D: R rows of X against C rows of Yt, vectors along p. */
static inline __attribute__((always_inline)) void
dot_tile(const int R, const int C, int64_t k, float alpha, const float *x, int64_t ldx,
         const float *yt, int64_t ldyt, float beta, float *d, int64_t ldd) {
    vec acc[ROWS][COLUMNS];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = vsplat(0.0f);
    int64_t p = 0;
    for (; p + LANES <= k; p += LANES) {
        vec xv[ROWS], yv[COLUMNS];
        for (int r = 0; r < R; r++) xv[r] = vload(x + r * ldx + p);
        for (int c = 0; c < C; c++) yv[c] = vload(yt + c * ldyt + p);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) acc[r][c] += xv[r] * yv[c];
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float sum = sum_lanes(acc[r][c]);
            for (int64_t q = p; q < k; q++) sum += x[r * ldx + q] * yt[c * ldyt + q];
            d[r * ldd + c] = finish(sum, alpha, beta, d + r * ldd + c);
        }
}

/* Rows [i0, i1) of D, all columns. */
static inline __attribute__((always_inline)) void
dot_row_block(const int R, int64_t n, int64_t k, float alpha, const float *x, int64_t ldx,
              const float *yt, int64_t ldyt, float beta, float *d, int64_t ldd) {
    int64_t j = 0;
    for (; j + COLUMNS <= n; j += COLUMNS)
        dot_tile(R, COLUMNS, k, alpha, x, ldx, yt + j * ldyt, ldyt, beta, d + j, ldd);
    const float *ytj = yt + j * ldyt;
    switch (n - j) { /* the last n % COLUMNS columns in one tile */
    case 3: dot_tile(R, 3, k, alpha, x, ldx, ytj, ldyt, beta, d + j, ldd); break;
    case 2: dot_tile(R, 2, k, alpha, x, ldx, ytj, ldyt, beta, d + j, ldd); break;
    case 1: dot_tile(R, 1, k, alpha, x, ldx, ytj, ldyt, beta, d + j, ldd); break;
    default: break;
    }
}

/* Out of line so that the OpenMP region below only calls it. */
__attribute__((noinline)) static void dot_rows(int64_t i0, int64_t i1, int64_t n, int64_t k,
                                               float alpha, const float *x, int64_t ldx,
                                               const float *yt, int64_t ldyt, float beta,
                                               float *d, int64_t ldd) {
    int64_t i = i0;
    for (; i + ROWS <= i1; i += ROWS)
        dot_row_block(ROWS, n, k, alpha, x + i * ldx, ldx, yt, ldyt, beta, d + i * ldd, ldd);
    for (; i < i1; i++)
        dot_row_block(1, n, k, alpha, x + i * ldx, ldx, yt, ldyt, beta, d + i * ldd, ldd);
}

void CK_DIRECT_NAME(ck_gemm_direct_dot)(int64_t m, int64_t n, int64_t k, float alpha,
                                        const float *x, int64_t ldx, const float *yt,
                                        int64_t ldyt, float beta, float *d, int64_t ldd) {
    int threads = ck_threads_for(m * n * k, CK_GEMM_MIN_WORK_PER_THREAD);
    if (threads == 1) {
        dot_rows(0, m, n, k, alpha, x, ldx, yt, ldyt, beta, d, ldd);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int64_t i0, i1;
        ck_split_range(m, ROWS, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1);
        dot_rows(i0, i1, n, k, alpha, x, ldx, yt, ldyt, beta, d, ldd);
    }
}
