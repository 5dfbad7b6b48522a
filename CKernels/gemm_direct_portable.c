/* The direct GEMM kernels (gemm_direct.h) for any CPU: 4-float vectors (SSE2 on plain
 * x86-64, NEON on aarch64). */
#include "gemm.h"
#include "gemm_direct.h"
#include "scratch.h"
#include "threading.h"

#include <string.h>

#define CK_DIRECT_LANES 4
#define CK_DIRECT_NAME(f) f##_portable
#include "gemm_direct_impl.h"
