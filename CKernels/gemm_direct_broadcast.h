/* The broadcast form and its row panels (contract: gemm_direct.h), on the helpers of
 * gemm_direct_common.h. */

#ifndef CK_DIRECT_MASKED
/* The broadcast form's copy of Y's last columns, padded to a whole vector. */
static _Thread_local ck_scratch padded_columns;
#endif

#ifdef CK_DIRECT_MASKED
/* Stores an R x V tile t (2 <= R, last valid columns in its last vector) whose element (r, j)
 * goes to d[j * R + r]: one contiguous block, filled by interleaving the rows' vectors with
 * two-source permutes (the inverse of transpose_narrow). R and V are constants after
 * inlining, so the permutes' indices are too. */
static inline __attribute__((always_inline)) void
store_interleaved(const int R, const int V, int last, vec t[BROADCAST_ROWS][2], float *d) {
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

/* Step p of a broadcast tile (below): acc[r][v] += X(r, p) * (vector v of Y's row p). */
static inline __attribute__((always_inline)) void
broadcast_step(const int R, const int V, int last, vec acc[BROADCAST_ROWS][2], int64_t p,
               const float *x, int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy) {
    vec yv[2];
    for (int v = 0; v < V; v++)
#ifdef CK_DIRECT_MASKED
        yv[v] = vload_first(y + p * ldy + v * LANES, v == V - 1 ? last : LANES);
#else
        yv[v] = vload(y + p * ldy + v * LANES); /* whole: broadcast() pads Y's last columns */
#endif
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
        vec xr = vsplat(x[r * rs_x + p * cs_x]);
        for (int v = 0; v < V; v++) acc[r][v] += xr * yv[v];
    }
}

/* An R x (V vectors) tile of D (R <= BROADCAST_ROWS), the last vector holding `last` valid
 * columns: R rows of X broadcast against V vectors of each row of Y (a partial last one is
 * masked, or padded by the caller). R and V are constants after inlining, and every loop over
 * the rows is unrolled, so the accumulators live in registers. The steps before the last
 * `ahead` also ask for the cache lines of Y's row `ahead` rows on (0: none): Y's rows are
 * ldy apart, each on another page when long, where the hardware prefetcher does not follow. */
static inline __attribute__((always_inline)) void
broadcast_tile(const int R, const int V, int last, int64_t k, float alpha, const float *x,
               int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, int64_t ahead,
               float beta, float *d, int64_t rs_d, int64_t cs_d, ck_gemm_epilogue e) {
    vec acc[BROADCAST_ROWS][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = vsplat(0.0f);
    const int64_t asking = ahead > 0 && ahead < k ? k - ahead : 0;
    int64_t p = 0;
    for (; p < asking; p++) {
        for (int v = 0; v < V; v++) __builtin_prefetch(y + (p + ahead) * ldy + v * LANES, 0, 3);
        broadcast_step(R, V, last, acc, p, x, rs_x, cs_x, y, ldy);
    }
    for (; p < k; p++) broadcast_step(R, V, last, acc, p, x, rs_x, cs_x, y, ldy);
#ifdef CK_DIRECT_MASKED
    const int direct = cs_d == 1;
#else
    const int direct = cs_d == 1 && last == LANES;
#endif
    /* The tile is finished in registers; with an epilogue, that runs on the whole tile
     * before it is stored (without one, each vector is stored as soon as it is finished). */
    const int epilogue = ck_gemm_epilogue_any(&e);
    if (direct) {
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++) {
                const int count = v == V - 1 ? last : LANES;
                acc[r][v] = finished(acc[r][v], count, alpha, beta, d + r * rs_d + v * LANES);
                if (!epilogue) vstore_first(d + r * rs_d + v * LANES, acc[r][v], count);
            }
        if (!epilogue) return;
        epilogue_tile(R, V, last, acc, e);
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                vstore_first(d + r * rs_d + v * LANES, acc[r][v], v == V - 1 ? last : LANES);
        return;
    }
#ifdef CK_DIRECT_MASKED
    /* D's R rows are all the columns of a dense C (the transposed problem: rs_d 1, cs_d R;
     * the spiral's dW2 = Hᵀ·dY, 100 x 3): the tile is one contiguous block of C, stored with
     * permutes rather than one float at a time. */
    if (R >= 2 && rs_d == 1 && cs_d == R && beta == 0.0f) {
#pragma clang loop unroll(full)
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
    float tile[BROADCAST_ROWS][2 * LANES];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; beta != 0.0f && j < columns; j++)
            tile[r][j] = d[r * rs_d + j * cs_d];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) /* only the valid lanes: the others were not copied in */
            acc[r][v] = finished(acc[r][v], v == V - 1 ? last : LANES, alpha, beta,
                                 &tile[r][v * LANES]);
    if (epilogue) epilogue_tile(R, V, last, acc, e);
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) vstore(&tile[r][v * LANES], acc[r][v]);
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; j < columns; j++) d[r * rs_d + j * cs_d] = tile[r][j];
}

/* All m rows of a panel of D of V vectors (the last with `last` columns): blocks of
 * BROADCAST_ROWS rows, then one tile of the rest. The first whole block asks for Y's rows
 * `ahead` rows on and the others find them in the cache; a panel of fewer rows asks for
 * nothing, so that the tiles of the other row counts are compiled once, without asks. */
static inline __attribute__((always_inline)) void
broadcast_panel(const int V, int last, int64_t m, int64_t k, float alpha, const float *x,
                int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, int64_t ahead,
                float beta, float *d, int64_t rs_d, int64_t cs_d, ck_gemm_epilogue e) {
    int64_t i = 0;
    if (m >= BROADCAST_ROWS) {
        broadcast_tile(BROADCAST_ROWS, V, last, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d,
                       rs_d, cs_d, e);
        i = BROADCAST_ROWS;
    }
    for (; i + BROADCAST_ROWS <= m; i += BROADCAST_ROWS)
        broadcast_tile(BROADCAST_ROWS, V, last, k, alpha, x + i * rs_x, rs_x, cs_x, y, ldy, 0,
                       beta, d + i * rs_d, rs_d, cs_d, ck_gemm_epilogue_at(e, i, 0));
    if (i == m) return; /* no rest: no pointers to the rows past X's and D's last */
    const float *xi = x + i * rs_x;
    float *di = d + i * rs_d;
    const ck_gemm_epilogue ei = ck_gemm_epilogue_at(e, i, 0);
    /* The last m % BROADCAST_ROWS rows in one tile (a tile's rows are a constant). */
#define REST(R)                                                                            \
    case R:                                                                                \
        broadcast_tile(R, V, last, k, alpha, xi, rs_x, cs_x, y, ldy, 0, beta, di, rs_d, cs_d, \
                       ei);                                                                \
        return;
    switch (m - i) {
#ifdef CK_DIRECT_MASKED
        REST(7) REST(6) REST(5) REST(4)
#endif
        REST(3) REST(2) REST(1)
    default: return;
    }
#undef REST
}

/* All of D: panels of two vectors, then of one, then of the last n % LANES columns. */
static inline __attribute__((always_inline)) void
broadcast(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
          int64_t cs_x, const float *y, int64_t ldy, int64_t ahead, float beta, float *d,
          int64_t rs_d, int64_t cs_d, ck_gemm_epilogue e) {
    int64_t j = 0;
    for (; j + 2 * LANES <= n; j += 2 * LANES)
        broadcast_panel(2, LANES, m, k, alpha, x, rs_x, cs_x, y + j, ldy, ahead, beta,
                        d + j * cs_d, rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
    for (; j + LANES <= n; j += LANES)
        broadcast_panel(1, LANES, m, k, alpha, x, rs_x, cs_x, y + j, ldy, ahead, beta,
                        d + j * cs_d, rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
    /* The last n % LANES columns. */
    const int rest = (int)(n - j);
    if (rest == 0) return;
#ifdef CK_DIRECT_MASKED
    broadcast_panel(1, rest, m, k, alpha, x, rs_x, cs_x, y + j, ldy, ahead, beta, d + j * cs_d,
                    rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
#else
    /* Without masks, Y's last columns are copied into whole zero-padded vectors. */
    float *padded = ck_scratch_get(&padded_columns, (size_t)(k * LANES));
    for (int64_t p = 0; p < k; p++)
        for (int l = 0; l < LANES; l++)
            padded[p * LANES + l] = l < rest ? y[p * ldy + j + l] : 0.0f;
    broadcast_panel(1, rest, m, k, alpha, x, rs_x, cs_x, padded, LANES, ahead, beta,
                    d + j * cs_d, rs_d, cs_d, ck_gemm_epilogue_at(e, 0, j));
#endif
}

/* The broadcast form for each kind of epilogue. */
__attribute__((noinline)) static void
broadcast_plain(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
                int64_t cs_x, const float *y, int64_t ldy, int64_t ahead, float beta, float *d,
                int64_t rs_d, int64_t cs_d) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d, no_epilogue);
}

__attribute__((noinline)) static void
broadcast_bias_relu(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
                    int64_t cs_x, const float *y, int64_t ldy, int64_t ahead, float beta, float *d,
                    int64_t rs_d, int64_t cs_d, const ck_gemm_epilogue *e) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d,
              bias_relu_part(e));
}

__attribute__((noinline)) static void
broadcast_mask(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
               int64_t cs_x, const float *y, int64_t ldy, int64_t ahead, float beta, float *d,
               int64_t rs_d, int64_t cs_d, const ck_gemm_epilogue *e) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d, mask_part(e));
}

__attribute__((noinline)) static void
broadcast_any(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t rs_x,
              int64_t cs_x, const float *y, int64_t ldy, int64_t ahead, float beta, float *d,
              int64_t rs_d, int64_t cs_d, const ck_gemm_epilogue *e) {
    broadcast(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d, *e);
}

/* The row panels (contract: gemm_direct.h): a panel's k rows of Y, up to ROW_PANEL vectors
 * wide, and its bias stay in registers for all m rows of D, and each row is finished and stored
 * straight away, with no test left in the loop (the epilogue is one of a few compiled in).
 * Tiles of BROADCAST_ROWS rows reload Y, test for the epilogue's parts and pay their setup per
 * tile, which for so few terms costs more than the arithmetic. Each element is the same
 * multiply-add chain and epilogue as in a tile (alpha 1 and beta 0 leave the sum as it is): the
 * same bits. A partial last vector is loaded and stored under a mask with AVX-512, through a
 * padded copy elsewhere (vload_first, vstore_first): once per panel for Y and the bias, once
 * per row for D.
 * With 16 registers (AVX2, SSE) a panel of 4 vectors and 4 terms does not fit them: the
 * compiler keeps some of Y's vectors in L1 and reloads them for every row of D. Those reloads
 * cost about as much as the extra passes over X that narrower panels would take (panels of 2
 * vectors, which fit, are no faster), so every instruction set has the same ROW_PANEL. */
enum { ROW_PANEL = 4 };

/* The epilogues the row panels are compiled for. */
typedef enum { ROWS_PLAIN, ROWS_BIAS, ROWS_BIAS_RELU, ROWS_RELU, ROWS_MASK } rows_epilogue;

/* e's row-panel epilogue; e is one that ck_gemm_row_panels_fit accepts. */
static rows_epilogue rows_epilogue_of(const ck_gemm_epilogue *e) {
    if (e == NULL || !ck_gemm_epilogue_any(e)) return ROWS_PLAIN;
    if (e->mask != NULL) return ROWS_MASK;
    if (e->bias == NULL) return ROWS_RELU;
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
    vec yv[CK_GEMM_ROW_PANEL_MAX_K][ROW_PANEL], bias_v[ROW_PANEL];
    for (int v = 0; v < V; v++) {
        const int count = v == V - 1 ? last : LANES;
        for (int p = 0; p < CK_GEMM_ROW_PANEL_MAX_K && p < k; p++)
            yv[p][v] = vload_first(y + p * ldy + v * LANES, count);
        if (bias) bias_v[v] = vload_first(e->bias + v * LANES, count);
    }
    for (int64_t i = 0; i < m; i++) {
        vec acc[ROW_PANEL];
        for (int v = 0; v < V; v++) acc[v] = vsplat(0.0f);
        for (int p = 0; p < CK_GEMM_ROW_PANEL_MAX_K && p < k; p++) {
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
static void direct_row_panels(int64_t m, int64_t n, int64_t k, const float *x, int64_t rs_x,
                              int64_t cs_x, const float *y, int64_t ldy, float *d, int64_t rs_d,
                              const ck_gemm_epilogue *e) {
    switch (rows_epilogue_of(e)) {
    case ROWS_PLAIN: rows_all(ROWS_PLAIN, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    case ROWS_BIAS: rows_all(ROWS_BIAS, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    case ROWS_BIAS_RELU:
        rows_all(ROWS_BIAS_RELU, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e);
        break;
    case ROWS_RELU: rows_all(ROWS_RELU, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    case ROWS_MASK: rows_all(ROWS_MASK, m, n, k, x, rs_x, cs_x, y, ldy, d, rs_d, e); break;
    }
}

static void direct_broadcast(int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                             int64_t rs_x, int64_t cs_x, const float *y, int64_t ldy, int64_t ahead,
                             float beta, float *d, int64_t rs_d, int64_t cs_d,
                             const ck_gemm_epilogue *e) {
    switch (kind_of(e)) {
    case EPILOGUE_NONE:
        broadcast_plain(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d);
        break;
    case EPILOGUE_BIAS_RELU:
        broadcast_bias_relu(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d, e);
        break;
    case EPILOGUE_MASK:
        broadcast_mask(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d, e);
        break;
    case EPILOGUE_ANY:
        broadcast_any(m, n, k, alpha, x, rs_x, cs_x, y, ldy, ahead, beta, d, rs_d, cs_d, e);
        break;
    }
}

