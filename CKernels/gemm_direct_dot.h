/* The dot form (contract: gemm_direct.h), on the helpers of gemm_direct_common.h. */

/* The lane sums of up to LANES vectors at once, by a tree: each step adds the halves of every
 * block of w lanes, of two vectors together, into one vector (blocks of w/2 lanes, a's then
 * b's), so log2(LANES) steps leave lane t holding the sum of vector t. Each sum is the same
 * fixed pairwise one as halving a single vector (lane l plus lane l + LANES/2, and so on),
 * at about a quarter of the shuffles and adds of reducing the vectors one by one. */
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
    if (j == n) return; /* no rest: no pointer to the row past Yt's last */
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
    int64_t column_block;      /* columns per block of dot_columns */
} dot_args;

/* Rows [begin, end) of D, all columns: blocks of ROWS rows, then one block of the rest. */
static inline __attribute__((always_inline)) void
dot_rows_with(const dot_args *a, int64_t begin, int64_t end, ck_gemm_epilogue e) {
    int64_t i = begin;
    for (; i + ROWS <= end; i += ROWS)
        dot_row_block(ROWS, a->n, a->k, a->alpha, a->x + i * a->ldx, a->ldx, a->yt, a->ldyt,
                      a->beta, a->d + i * a->ldd, a->ldd, ck_gemm_epilogue_at(e, i, 0));
    if (i == end) return; /* no rest: no pointers to the rows past X's and D's last */
    const float *xi = a->x + i * a->ldx;
    float *di = a->d + i * a->ldd;
    const ck_gemm_epilogue ei = ck_gemm_epilogue_at(e, i, 0);
    switch (end - i) {
    case 3:
        dot_row_block(3, a->n, a->k, a->alpha, xi, a->ldx, a->yt, a->ldyt, a->beta, di, a->ldd, ei);
        break;
    case 2:
        dot_row_block(2, a->n, a->k, a->alpha, xi, a->ldx, a->yt, a->ldyt, a->beta, di, a->ldd, ei);
        break;
    case 1:
        dot_row_block(1, a->n, a->k, a->alpha, xi, a->ldx, a->yt, a->ldyt, a->beta, di, a->ldd, ei);
        break;
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

/* Columns [begin, end) of D, all rows, in blocks of a->column_block columns: each block's rows
 * of Yt (column_block x k floats) are read from memory once and from cache by every row block
 * of X. */
static void dot_columns(const void *args, int64_t begin, int64_t end) {
    const dot_args *a = args;
    for (int64_t j = begin; j < end; j += a->column_block) {
        dot_args block = *a;
        block.n = end - j < a->column_block ? end - j : a->column_block;
        block.yt = a->yt + j * a->ldyt;
        block.d = a->d + j;
        const ck_gemm_epilogue ej = a->e != NULL ? ck_gemm_epilogue_at(*a->e, 0, j) : no_epilogue;
        dot_rows_epilogue(&block, 0, a->m, a->e != NULL ? &ej : NULL);
    }
}

/* Split by rows when D is taller than wide, else by columns (a small batch times a wide
 * Yt): every thread then reads only its own rows of Yt, each block of them once. */
static void direct_dot(int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                       int64_t ldx, const float *yt, int64_t ldyt, float beta, float *d,
                       int64_t ldd, const ck_gemm_epilogue *e, int64_t column_block,
                       int threads) {
    dot_args args = {m, n, k, ldx, ldyt, ldd, alpha, beta, x, yt, d, e, column_block};
    if (m >= n)
        ck_parallel_for(m, ROWS, threads, dot_rows, &args);
    else
        ck_parallel_for(n, COLUMNS, threads, dot_columns, &args);
}
