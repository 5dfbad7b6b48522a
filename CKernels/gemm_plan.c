/* The GEMM's tables, one per architecture, the choice of one for this CPU, and the routes
 * the plan (gemm_plan.h) takes, as the API of ckernels_gemm.h reports them. */
#include "gemm_plan.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#if defined(__x86_64__)
#define ISA_AVX2 (&ck_gemm_isa_avx2)
#define ISA_AVX512 (&ck_gemm_isa_avx512)
#define ISA_AVX512_8X48 (&ck_gemm_isa_avx512_8x48)
#else
#define ISA_AVX2 NULL
#define ISA_AVX512 NULL
#define ISA_AVX512_8X48 NULL
#endif

/* Multiply-adds below which a product is not split between threads or packed. */
#define WORK_64_CUBED ((int64_t)64 * 64 * 64)
/* transposed_min_work_per_thread: half of that, 2^17. */
#define HALF_WORK_64_CUBED (WORK_64_CUBED / 2)
/* broadcast_max_work: products up to a square of 512. */
#define WORK_512_CUBED ((int64_t)512 * 512 * 512)
/* own_slivers_in_place_max_b: B as stored read in place whatever its size, or up to 2 MB or
 * 4 MB. */
#define IN_PLACE_ALWAYS INT64_MAX
#define IN_PLACE_UP_TO_2_MB ((int64_t)1 << 19)
#define IN_PLACE_UP_TO_4_MB ((int64_t)1 << 20)
/* own_slivers_max_a: own slivers only up to mc rows, or for an A~ of up to 512 KB (Zen 3's
 * L2) or 1 MB (Zen 4's L2, half of Sapphire Rapids'). */
#define OWN_A_UP_TO_MC 0
#define OWN_A_UP_TO_512_KB ((int64_t)1 << 17)
#define OWN_A_UP_TO_1_MB ((int64_t)1 << 18)
/* in_place_l2_sets: Zen 3's L2, 512 KB of 8 ways of 64-byte lines. */
#define ZEN3_L2_SETS (512 * 1024 / 8 / 64)
/* along_rows_max_b: a thread's part of B~ up to 1 MB, half of Sapphire Rapids' L2. */
#define ALONG_ROWS_UP_TO_1_MB ((int64_t)1 << 18)
/* pack_transpose_max_floats: a transposed sliver filled in one pass up to 32 KB, the
 * smallest L1 of the CPUs the tables name (Zen 3's and Zen 4's; Sapphire Rapids' and Zen 5's
 * is 48 KB). */
#define TRANSPOSE_IN_L1_FLOATS ((int64_t)32 * 1024 / 4)

/* The fields every row shares: products of up to 64^3 multiply-adds are not packed, and no
 * thread gets a share of fewer (WORK_64_CUBED); the dot and transposed forms take at most 15
 * columns, below the AVX-512 vector (16), where the packed tile's columns would be mostly
 * wasted; the row panels go up to their CK_GEMM_ROW_PANEL_MAX_K terms; dot_column_block was
 * chosen on Zen 4; slivers are transposed in packing (pack_transpose_columns chosen on
 * Sapphire Rapids, pack_transpose_max_floats the smallest L1 of the CPUs,
 * TRANSPOSE_IN_L1_FLOATS). */
#define SHARED_FIELDS                                                                              \
    .min_work_per_thread = WORK_64_CUBED, .direct_max_work = WORK_64_CUBED, .dot_min_k = 64,       \
    .dot_max_n = 15, .dot_column_block = 64, .transposed_max_n = 15,                               \
    .row_panel_max_k = CK_GEMM_ROW_PANEL_MAX_K, .prefetch_rows = 32,                               \
    .pack_transpose_max_floats = TRANSPOSE_IN_L1_FLOATS, .pack_transpose_columns = 64

/* The tables, one per architecture (ck_gemm_arch_for_cpu says which CPUs select each): the
 * SHARED_FIELDS and, listed in each row, the fields that differ between rows. Block sizes and
 * thresholds not fixed by a tile or a cache were chosen by measurement on the CPU named below
 * for each row; Benchmarks/README.md has, in its section for that CPU, the measurements and
 * the values and peers they were compared with. The portable and AVX2 rows' blocks are scaled
 * to their tiles.
 * The AVX2 row, for any CPU with AVX2 and FMA but not AVX-512F, was chosen on Zen 3 (EPYC
 * Milan: 512 KB of L2 a core, 8 ways), and some of its fields follow that cache (the other
 * rows turn them off, 0, or 1 for own_slivers_group, unless stated; dot_max_m is 32 there):
 *   own_slivers_max_a     a thread packs all of an A~ up to L2's size (OWN_A_UP_TO_512_KB)
 *                         rather than share a B~, half of it read from the other core's cache
 *   dot_max_m             past 8 rows, packing B's transpose once for the 6 x 16 tiles costs
 *                         less than the dot form's loads of it along k and its reduction of
 *                         the lanes for every element of C
 *   in_place_l2_sets, in_place_sets_per_tile  B is read in place only while its rows, ldb
 *                         apart, spread over enough sets of L2 for the tiles that reread them
 *   own_slivers_margin    one row part with own slivers is kept unless two that share B~ give
 *                         the busiest thread more than a sixteenth fewer tiles
 *   ask_next_a_sliver     a tall A of long rows waits for memory at every sliver unless the
 *                         next sliver's rows are asked for ahead
 *   own_slivers_group, pack_b_row_block  own slivers of a B whose rows are a multiple of 16 KB
 *                         apart (a convolution's) are packed in groups, along B's rows
 *   own_slivers_by_rows   products of few rows and few columns (a convolution's dW) pack their
 *                         own slivers rather than share B~ behind a barrier in every k block
 *                         (the one-FMA row too)
 *   own_slivers_one_block as on the one-FMA and two-FMA rows.
 * The one-FMA row is for Zen 4 (1 MB of L2 a core), and is also the fallback for any other CPU
 * with AVX-512F. It leaves off the fields that follow Zen 3's L2 (ask_next_a_sliver, the
 * in-place sets, the groups of own slivers), and it alone:
 *   splits C's transpose between threads from half the work per thread of the packed routes
 *   (transposed_min_work_per_thread, HALF_WORK_64_CUBED): the route packs nothing, so a
 *   smaller share pays for the parallel region (a small batch's dW of few outputs, such as
 *   1024 x 10 of 32 terms);
 *   on one thread, takes the own slivers that own_slivers_one_block and own_slivers_by_rows
 *   allow only where B is read in place (one_thread_own_slivers_in_place_only): one thread
 *   has no barrier to spare, and a transposed B packed a sliver at a time, right before its
 *   few tiles read it (a small batch's dH = dY·Wᵀ), costs more than one pass over a B~ that
 *   stays in L2;
 *   keeps one row part with own slivers unless two that share B~ give the busiest thread
 *   more than a quarter fewer tiles (own_slivers_margin 4): a B~ shared by two row parts is
 *   packed behind a barrier in every k block and half of it read from the other core's cache,
 *   which costs more than the tiles saved where each sliver serves only a few tiles (a
 *   convolution's dW, 64 rows against 288 columns);
 *   takes the broadcast form (unpacked, B read in place, C split between the threads) for A
 *   and B as stored up to a square of 512 (broadcast_max_work): with one FMA a cycle, its
 *   loads of B in place keep pace with the arithmetic, and the copies packing would make are
 *   saved. A transposed B would first need a transposed copy, on several threads shared and
 *   read partly from the other core's cache; a transposed A (a layer's dW = Xᵀ·dY, C tall)
 *   is left to the packed routes as well (both compared in the Zen 4 section of
 *   Benchmarks/README.md).
 * The two-FMA row is for Intel's server cores with two 512-bit FMA units (intel_two_fma;
 * 2 MB of L2 a core from Sapphire Rapids on). Beside the four rules only the one-FMA row
 * takes, it differs from that row in PACKED's 8 x 48 kernel (and NC 2112, a multiple of both
 * tiles' 32 and 48 columns that takes 2048 columns in one block), the 12 x 32 kernel's asks for
 * B's rows ahead on the other packed routes (kernel_prefetch_b_rows), reading B in place up to
 * 4 MB, fewer asks per tile for the next own sliver (next_sliver_max_lines), going along C's
 * rows (along_rows_max_b, 0 elsewhere), and leaving off the one-FMA row's own_slivers_margin
 * and own_slivers_by_rows.
 * The Zen 5 row is for AMD family 26 (Zen 5). Own slivers for products of one k block and one
 * A~ block (own_slivers_one_block) are 0 on the Zen 5 and portable rows only. Thresholds in
 * products (direct_max_work, broadcast_max_work, min_work_per_thread) are multiply-adds. */
static const ck_gemm_table tables[] = {
    [CK_GEMM_ARCH_PORTABLE] = {
        .arch = CK_GEMM_ARCH_PORTABLE, .name = "portable", .isa = &ck_gemm_isa_portable,
        SHARED_FIELDS,
        .mc = 120, .kc = 256, .nc = 2048,
        .broadcast_max_work = WORK_64_CUBED, .dot_max_m = 32,
        .transposed_min_work_per_thread = WORK_64_CUBED,
        .ask_next_a_sliver = 0, .kernel_prefetch_b_rows = 0,
        .own_slivers_in_place_max_b = IN_PLACE_ALWAYS, .own_slivers_max_a = OWN_A_UP_TO_MC,
        .own_slivers_margin = 0,
        .in_place_l2_sets = 0, .in_place_sets_per_tile = 0,
        .next_sliver_max_lines = 128, .along_rows_max_b = 0, .own_slivers_one_block = 0,
        .pack_b_row_block = 0, .own_slivers_group = 1,
        .own_slivers_by_rows = 0, .one_thread_own_slivers_in_place_only = 0,
    },
    [CK_GEMM_ARCH_AVX2] = {
        .arch = CK_GEMM_ARCH_AVX2, .name = "avx2", .isa = ISA_AVX2,
        SHARED_FIELDS,
        .mc = 144, .kc = 256, .nc = 4096,
        .broadcast_max_work = WORK_64_CUBED, .dot_max_m = 8,
        .transposed_min_work_per_thread = WORK_64_CUBED,
        .ask_next_a_sliver = 1, .kernel_prefetch_b_rows = 0,
        .own_slivers_in_place_max_b = IN_PLACE_ALWAYS, .own_slivers_max_a = OWN_A_UP_TO_512_KB,
        .own_slivers_margin = 16,
        .in_place_l2_sets = ZEN3_L2_SETS, .in_place_sets_per_tile = 2,
        .next_sliver_max_lines = 128, .along_rows_max_b = 0, .own_slivers_one_block = 1,
        .pack_b_row_block = 8, .own_slivers_group = 16,
        .own_slivers_by_rows = 1, .one_thread_own_slivers_in_place_only = 0,
    },
    [CK_GEMM_ARCH_AVX512_ONE_FMA] = {
        .arch = CK_GEMM_ARCH_AVX512_ONE_FMA, .name = "avx512-one-fma", .isa = ISA_AVX512,
        SHARED_FIELDS,
        .mc = 240, .kc = 1024, .nc = 2048,
        .broadcast_max_work = WORK_512_CUBED, .dot_max_m = 32,
        .transposed_min_work_per_thread = HALF_WORK_64_CUBED,
        .ask_next_a_sliver = 0, .kernel_prefetch_b_rows = 0,
        .own_slivers_in_place_max_b = IN_PLACE_UP_TO_2_MB, .own_slivers_max_a = OWN_A_UP_TO_1_MB,
        .own_slivers_margin = 4,
        .in_place_l2_sets = 0, .in_place_sets_per_tile = 0,
        .next_sliver_max_lines = 128, .along_rows_max_b = 0, .own_slivers_one_block = 1,
        .pack_b_row_block = 0, .own_slivers_group = 1,
        .own_slivers_by_rows = 1, .one_thread_own_slivers_in_place_only = 1,
    },
    [CK_GEMM_ARCH_AVX512_TWO_FMA] = {
        .arch = CK_GEMM_ARCH_AVX512_TWO_FMA, .name = "avx512-two-fma", .isa = ISA_AVX512,
        .packed_isa = ISA_AVX512_8X48,
        SHARED_FIELDS,
        .mc = 240, .kc = 1024, .nc = 2112,
        .broadcast_max_work = WORK_64_CUBED, .dot_max_m = 32,
        .transposed_min_work_per_thread = WORK_64_CUBED,
        .ask_next_a_sliver = 0, .kernel_prefetch_b_rows = 32,
        .own_slivers_in_place_max_b = IN_PLACE_UP_TO_4_MB, .own_slivers_max_a = OWN_A_UP_TO_1_MB,
        .own_slivers_margin = 0,
        .in_place_l2_sets = 0, .in_place_sets_per_tile = 0,
        .next_sliver_max_lines = 32, .along_rows_max_b = ALONG_ROWS_UP_TO_1_MB,
        .own_slivers_one_block = 1, .pack_b_row_block = 0, .own_slivers_group = 1,
        .own_slivers_by_rows = 0, .one_thread_own_slivers_in_place_only = 0,
    },
    [CK_GEMM_ARCH_AVX512_ZEN5] = {
        .arch = CK_GEMM_ARCH_AVX512_ZEN5, .name = "avx512-zen5", .isa = ISA_AVX512,
        SHARED_FIELDS,
        .mc = 240, .kc = 1024, .nc = 2048,
        .broadcast_max_work = WORK_64_CUBED, .dot_max_m = 32,
        .transposed_min_work_per_thread = WORK_64_CUBED,
        .ask_next_a_sliver = 0, .kernel_prefetch_b_rows = 0,
        .own_slivers_in_place_max_b = IN_PLACE_ALWAYS, .own_slivers_max_a = OWN_A_UP_TO_MC,
        .own_slivers_margin = 0,
        .in_place_l2_sets = 0, .in_place_sets_per_tile = 0,
        .next_sliver_max_lines = 128, .along_rows_max_b = 0, .own_slivers_one_block = 0,
        .pack_b_row_block = 0, .own_slivers_group = 1,
        .own_slivers_by_rows = 0, .one_thread_own_slivers_in_place_only = 0,
    },
};
enum { TABLES = sizeof tables / sizeof tables[0] };

const ck_gemm_table *ck_gemm_table_of(ck_gemm_arch arch) {
    return (unsigned)arch < TABLES ? &tables[arch] : &tables[CK_GEMM_ARCH_PORTABLE];
}

/* ---- the CPU and its architecture -------------------------------------------------------- */

ck_gemm_cpu ck_gemm_this_cpu(void) {
    ck_gemm_cpu cpu = {CK_CPU_VENDOR_OTHER, 0, 0, 0, 0, 0};
#if defined(__x86_64__)
    __builtin_cpu_init();
    cpu.vendor = __builtin_cpu_is("intel") ? CK_CPU_VENDOR_INTEL
                 : __builtin_cpu_is("amd") ? CK_CPU_VENDOR_AMD
                                           : CK_CPU_VENDOR_OTHER;
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        /* Family: base, plus the extended family when the base is 15. Model: base, plus the
         * extended model (shifted) for families 6 and 15 and up. */
        const int base_family = (int)((eax >> 8) & 0xF), base_model = (int)((eax >> 4) & 0xF);
        cpu.family = base_family + (base_family == 15 ? (int)((eax >> 20) & 0xFF) : 0);
        cpu.model = base_model + (base_family == 6 || base_family == 15
                                      ? (int)((eax >> 16) & 0xF) << 4 : 0);
    }
    cpu.avx512f = __builtin_cpu_supports("avx512f") != 0;
    cpu.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    /* AMX-TILE: CPUID leaf 7, sub-leaf 0, EDX bit 24. */
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) cpu.amx_tile = (edx >> 24) & 1;
#endif
    return cpu;
}

/* Intel family 6 cores with two 512-bit FMA units: the server models listed, and any model
 * with AMX tiles (server cores from Sapphire Rapids on, whatever model a hypervisor shows). */
static int intel_two_fma(ck_gemm_cpu cpu) {
    static const int models[] = {85, 106, 108, 143, 207, 173, 174};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (models[i] == cpu.model) return 1;
    return cpu.amx_tile;
}

ck_gemm_arch ck_gemm_arch_for_cpu(ck_gemm_cpu cpu) {
    if (cpu.avx512f) {
        if (cpu.vendor == CK_CPU_VENDOR_AMD && cpu.family == 26) return CK_GEMM_ARCH_AVX512_ZEN5;
        if (cpu.vendor == CK_CPU_VENDOR_INTEL && cpu.family == 6 && intel_two_fma(cpu))
            return CK_GEMM_ARCH_AVX512_TWO_FMA;
        return CK_GEMM_ARCH_AVX512_ONE_FMA;
    }
    return cpu.avx2_fma ? CK_GEMM_ARCH_AVX2 : CK_GEMM_ARCH_PORTABLE;
}

ck_gemm_path ck_gemm_arch_path(ck_gemm_arch arch) {
    switch (arch) {
    case CK_GEMM_ARCH_AVX2: return CK_GEMM_PATH_AVX2;
    case CK_GEMM_ARCH_AVX512_ONE_FMA:
    case CK_GEMM_ARCH_AVX512_TWO_FMA:
    case CK_GEMM_ARCH_AVX512_ZEN5: return CK_GEMM_PATH_AVX512;
    default: return CK_GEMM_PATH_PORTABLE;
    }
}

const char *ck_gemm_arch_name(ck_gemm_arch arch) { return ck_gemm_table_of(arch)->name; }

int ck_gemm_path_supported(ck_gemm_path path) {
    switch (path) {
    case CK_GEMM_PATH_PORTABLE: return 1;
#if defined(__x86_64__)
    case CK_GEMM_PATH_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CK_GEMM_PATH_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
#endif
    default: return 0;
    }
}

/* The architecture that runs `path` on this CPU: its own, or the path's generic table. */
static ck_gemm_arch arch_for_path(ck_gemm_path path) {
    const ck_gemm_arch own = ck_gemm_arch_for_cpu(ck_gemm_this_cpu());
    if (ck_gemm_arch_path(own) == path) return own;
    return path == CK_GEMM_PATH_AVX2     ? CK_GEMM_ARCH_AVX2
           : path == CK_GEMM_PATH_AVX512 ? CK_GEMM_ARCH_AVX512_ONE_FMA
                                         : CK_GEMM_ARCH_PORTABLE;
}

/* ---- the current table -------------------------------------------------------------------- */

_Atomic(const ck_gemm_table *) ck_gemm_current = NULL;

/* CK_GEMM_PATH if it names a supported path, otherwise this CPU's own architecture. */
static ck_gemm_arch default_arch(void) {
    static const struct {
        const char *name;
        ck_gemm_path path;
    } names[] = {{"portable", CK_GEMM_PATH_PORTABLE},
                 {"avx2", CK_GEMM_PATH_AVX2},
                 {"avx512", CK_GEMM_PATH_AVX512}};
    const char *env = getenv("CK_GEMM_PATH");
    if (env != NULL)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(env, names[i].name) == 0 && ck_gemm_path_supported(names[i].path))
                return arch_for_path(names[i].path);
    return ck_gemm_arch_for_cpu(ck_gemm_this_cpu());
}

const ck_gemm_table *ck_gemm_choose_table(void) {
    /* Several threads may get here at once; they all compute the same value, and one set by
     * ck_gemm_set_arch in the meantime wins. */
    const ck_gemm_table *expected = NULL, *chosen = ck_gemm_table_of(default_arch());
    return atomic_compare_exchange_strong(&ck_gemm_current, &expected, chosen) ? chosen
                                                                               : expected;
}

ck_gemm_arch ck_gemm_get_arch(void) { return ck_gemm_current_table()->arch; }

int ck_gemm_set_arch(ck_gemm_arch arch) {
    if ((unsigned)arch >= TABLES || !ck_gemm_path_supported(ck_gemm_arch_path(arch))) return -1;
    atomic_store(&ck_gemm_current, &tables[arch]);
    return 0;
}

ck_gemm_path ck_gemm_get_path(void) { return ck_gemm_arch_path(ck_gemm_get_arch()); }

int ck_gemm_set_path(ck_gemm_path path) {
    if (!ck_gemm_path_supported(path)) return -1;
    return ck_gemm_set_arch(arch_for_path(path));
}

/* ---- routes ------------------------------------------------------------------------------- */

/* The tiles of arch's table, known on every target: its instruction sets' where they are
 * compiled, else from the tiles' sizes (the two-FMA table's packed_isa has the 8 x 48 tile). */
static ck_gemm_tiles tiles_of(ck_gemm_arch arch) {
    const ck_gemm_table *t = ck_gemm_table_of(arch);
    if (t->isa != NULL) return ck_gemm_tiles_of(t);
    if (arch == CK_GEMM_ARCH_AVX512_TWO_FMA)
        return (ck_gemm_tiles){CK_GEMM_AVX512_MR, CK_GEMM_AVX512_NR, CK_GEMM_AVX512_8X48_MR,
                               CK_GEMM_AVX512_8X48_NR};
    switch (ck_gemm_arch_path(arch)) {
    case CK_GEMM_PATH_AVX512:
        return (ck_gemm_tiles){CK_GEMM_AVX512_MR, CK_GEMM_AVX512_NR, CK_GEMM_AVX512_MR,
                               CK_GEMM_AVX512_NR};
    case CK_GEMM_PATH_AVX2:
        return (ck_gemm_tiles){CK_GEMM_AVX2_MR, CK_GEMM_AVX2_NR, CK_GEMM_AVX2_MR,
                               CK_GEMM_AVX2_NR};
    default:
        return (ck_gemm_tiles){CK_GEMM_PORTABLE_MR, CK_GEMM_PORTABLE_NR, CK_GEMM_PORTABLE_MR,
                               CK_GEMM_PORTABLE_NR};
    }
}

ck_gemm_route ck_gemm_route_for(ck_gemm_arch arch, int threads, int trans_a, int trans_b,
                                int64_t m, int64_t n, int64_t k, int64_t ldc, float alpha,
                                float beta, ck_gemm_epilogue_kind epilogue) {
    /* The epilogue each entry point passes (gemm.c), on a stand-in operand. */
    static const float operand = 0.0f;
    const ck_gemm_epilogue kinds[] = {
        [CK_GEMM_EPILOGUE_BIAS] = {.bias = &operand, .cs = 1},
        [CK_GEMM_EPILOGUE_BIAS_RELU] = {.bias = &operand, .cs = 1, .relu = 1},
        [CK_GEMM_EPILOGUE_RELU] = {.relu = 1},
        [CK_GEMM_EPILOGUE_RELU_BACKWARD] = {.mask = &operand, .mrs = n, .mcs = 1},
    };
    /* C at address 0: its first element on a cache line, as the library's buffers are. */
    const ck_gemm_operands g = {
        .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k, .alpha = alpha,
        .beta = beta, .ldb = trans_b ? k : n, .ldc = ldc,
        .epilogue = epilogue > CK_GEMM_EPILOGUE_NONE && epilogue <= CK_GEMM_EPILOGUE_RELU_BACKWARD
                        ? &kinds[epilogue] : NULL};
    return ck_gemm_plan_for(ck_gemm_table_of(arch), tiles_of(arch), threads > 0 ? threads : 1, &g)
        .route;
}

const char *ck_gemm_route_name(ck_gemm_route route) {
    switch (route) {
    case CK_GEMM_ROUTE_NOTHING: return "nothing";
    case CK_GEMM_ROUTE_SCALE: return "scale";
    case CK_GEMM_ROUTE_DOT: return "dot";
    case CK_GEMM_ROUTE_ROW_PANELS: return "row-panels";
    case CK_GEMM_ROUTE_BROADCAST: return "broadcast";
    case CK_GEMM_ROUTE_BROADCAST_TRANSPOSED: return "broadcast-transposed";
    case CK_GEMM_ROUTE_PACKED: return "packed";
    case CK_GEMM_ROUTE_PACKED_OWN_SLIVERS: return "packed-own-slivers";
    case CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE: return "packed-own-slivers-in-place";
    case CK_GEMM_ROUTE_PACKED_ALONG_ROWS: return "packed-along-rows";
    }
    return "unknown";
}
