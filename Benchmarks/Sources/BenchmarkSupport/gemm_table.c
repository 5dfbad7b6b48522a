/* Variants of the GEMM's table for this CPU (CKernels/gemm_plan.h), for `kernels --gemm`:
 * each a copy of the table with some fields set, installed as the table ck_sgemm uses. The
 * table is the library's internal type, so its header is included by path. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../CKernels/gemm_plan.h"
#include "benchmark_support.h"

/* A field a variant may set, and the least value it may take: 1 for a block size, of which a
 * loop takes that many at a time; 0 for the rest. */
#define FIELD(name) {#name, offsetof(ck_gemm_table, name), 0}
#define BLOCK(name) {#name, offsetof(ck_gemm_table, name), 1}

/* Every integer field of ck_gemm_table. */
static const struct {
    const char *name;
    size_t offset;
    int64_t least;
} fields[] = {
    BLOCK(mc), BLOCK(kc), BLOCK(nc), FIELD(min_work_per_thread), FIELD(direct_max_work),
    FIELD(broadcast_max_work),
    FIELD(dot_min_k), FIELD(dot_max_n), FIELD(dot_max_m), BLOCK(dot_column_block),
    FIELD(transposed_max_n), FIELD(transposed_min_work_per_thread),
    FIELD(row_panel_max_k), FIELD(prefetch_rows), FIELD(ask_next_a_sliver),
    FIELD(kernel_prefetch_b_rows), FIELD(own_slivers_in_place_max_b), FIELD(in_place_l2_sets),
    FIELD(in_place_sets_per_tile), FIELD(own_slivers_max_a), FIELD(own_slivers_margin),
    FIELD(next_sliver_max_lines), FIELD(along_rows_max_b), FIELD(own_slivers_one_block),
    FIELD(pack_b_row_block), FIELD(pack_transpose_max_floats), BLOCK(pack_transpose_columns),
    FIELD(own_slivers_group), FIELD(own_slivers_by_rows),
    FIELD(one_thread_own_slivers_in_place_only),
};
#define FIELDS (sizeof fields / sizeof fields[0])

/* A field added to the table must be added above: the table is its four leading members
 * (arch, name and two instruction sets) and the integer fields. */
_Static_assert(sizeof(ck_gemm_table) == offsetof(ck_gemm_table, mc) + FIELDS * sizeof(int64_t),
               "ck_gemm_table has a field gemm_table.c does not list");

#define MAX_VARIANTS 32

static ck_gemm_table variants[MAX_VARIANTS];
static int variant_count;
static char error[1024];

/* The table ck_sgemm uses for this CPU (CK_GEMM_PATH or the CPU's architecture), chosen on
 * first use and kept while variants are installed. */
static const ck_gemm_table *own_table(void) {
    static const ck_gemm_table *own;
    if (own == NULL) own = ck_gemm_current_table();
    return own;
}

static const ck_gemm_table *table_of_variant(int variant) {
    return variant >= 0 && variant < variant_count ? &variants[variant] : own_table();
}

/* Whether a variant's numbers are ones the library can run (gemm_plan.h): block sizes of at
 * least 1, mc and nc whole tiles of each instruction set the table uses, no field negative.
 * Otherwise says why in error. */
static int check_blocks(const ck_gemm_table *table) {
    for (size_t f = 0; f < FIELDS; f++) {
        int64_t value;
        memcpy(&value, (const char *)table + fields[f].offset, sizeof value);
        if (value < fields[f].least) {
            snprintf(error, sizeof error, "%s=%lld: it must be at least %lld", fields[f].name,
                     (long long)value, (long long)fields[f].least);
            return 0;
        }
    }
    const ck_gemm_isa *isas[] = {table->isa, table->packed_isa};
    for (int i = 0; i < 2; i++) {
        const ck_gemm_isa *isa = isas[i];
        if (isa == NULL) continue;
        if (table->mc % isa->mr != 0 || table->nc % isa->nr != 0) {
            snprintf(error, sizeof error,
                     "mc=%lld, nc=%lld: mc must be a multiple of %d and nc of %d (the %d x %d "
                     "tile of table %s)",
                     (long long)table->mc, (long long)table->nc, isa->mr, isa->nr, isa->mr,
                     isa->nr, table->name);
            return 0;
        }
    }
    return 1;
}

/* The fields of the table a variant may set, as "mc, kc, nc, ...". */
static const char *field_names(void) {
    static char names[FIELDS * 32];
    if (names[0] == 0)
        for (size_t f = 0; f < FIELDS; f++) {
            if (f > 0) strcat(names, ", ");
            strcat(names, fields[f].name);
        }
    return names;
}

const char *bench_gemm_table_name(void) { return own_table()->name; }

const char *bench_gemm_table_error(void) { return error; }

int bench_gemm_table_variant(const char *assignments) {
    if (variant_count == MAX_VARIANTS) {
        snprintf(error, sizeof error, "more than %d table variants", MAX_VARIANTS);
        return -1;
    }
    ck_gemm_table table = *own_table();
    const char *at = assignments;
    while (*at != 0) {
        const size_t length = strcspn(at, ",");
        const char *equals = memchr(at, '=', length);
        size_t f = 0;
        while (equals != NULL && f < FIELDS &&
               !(strlen(fields[f].name) == (size_t)(equals - at) &&
                 strncmp(fields[f].name, at, (size_t)(equals - at)) == 0))
            f++;
        char *end = NULL;
        const long long value = equals != NULL ? strtoll(equals + 1, &end, 10) : 0;
        if (equals == NULL || f == FIELDS || end == equals + 1 || end != at + length) {
            snprintf(error, sizeof error,
                     "\"%.*s\" is not FIELD=INTEGER with a field of the table (%s)", (int)length,
                     at, field_names());
            return -1;
        }
        memcpy((char *)&table + fields[f].offset, &(int64_t){value}, sizeof(int64_t));
        at += length + (at[length] == ',');
    }
    if (!check_blocks(&table)) return -1;
    variants[variant_count] = table;
    error[0] = 0;
    return variant_count++;
}

void bench_gemm_table_use(int variant) {
    atomic_store(&ck_gemm_current, table_of_variant(variant));
}

const char *bench_gemm_table_route(int variant, int trans_a, int trans_b, int64_t m, int64_t n,
                                   int64_t k, int threads) {
    const ck_gemm_table *table = table_of_variant(variant);
    if (table->isa == NULL) return "?";
    const ck_gemm_operands product = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n,
                                      .k = k, .alpha = 1, .beta = 0, .ldb = trans_b ? k : n,
                                      .ldc = n};
    return ck_gemm_route_name(
        ck_gemm_plan_for(table, ck_gemm_tiles_of(table), threads, &product).route);
}
