/* The portable instruction set of the GEMM, for any CPU: its microkernel
 * (gemm_kernel_portable.c) and the direct kernels (gemm_direct.h) compiled here with 4-float
 * vectors (SSE2 on plain x86-64, NEON on aarch64), named in its table ck_gemm_isa_portable. */
#include "gemm.h"
#include "gemm_direct.h"
#include "scratch.h"
#include "threading.h"

#include <string.h>

#define CK_DIRECT_LANES 4
#include "gemm_direct_common.h"
#include "gemm_direct_broadcast.h"
#include "gemm_direct_dot.h"

const ck_gemm_isa ck_gemm_isa_portable = {
    .mr = CK_GEMM_PORTABLE_MR,
    .nr = CK_GEMM_PORTABLE_NR,
    .kernel = ck_gemm_kernel_portable,
    .narrow_kernel = ck_gemm_kernel_portable_narrow,
    .direct_broadcast = direct_broadcast,
    .direct_row_panels = direct_row_panels,
    .direct_dot = direct_dot,
    .epilogue = epilogue_block,
    .transpose = transpose,
};
