/* Intel MKL as a GEMM peer, loaded with dlopen so that the benchmarks build and run without
 * it (benchmark_support.h). */
#define _GNU_SOURCE
#include "benchmark_support.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* CBLAS's enumerations, as MKL's and every other cblas.h define them. */
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*cblas_sgemm_fn)(int layout, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
typedef void (*set_num_threads_fn)(int threads);
typedef void (*get_version_string_fn)(char *buffer, int length);
typedef int (*get_auto_branch_fn)(void);

static cblas_sgemm_fn sgemm;
static set_num_threads_fn set_num_threads;
static char version[256], path[1024], error[1100], code_path[96];

/* The name of MKL's CBWR branch (mkl_cbwr_get_auto_branch: mkl_types.h's MKL_CBWR_*). */
static const char *branch_name(int branch) {
    switch (branch) {
    case 2: return "no Intel branch (MKL_CBWR_AUTO, as on non-Intel CPUs)";
    case 3: return "compatible";
    case 4: return "SSE2";
    case 6: return "SSSE3";
    case 7: return "SSE4.1";
    case 8: return "SSE4.2";
    case 9: return "AVX";
    case 10: return "AVX2";
    case 12: return "AVX-512";
    case 14: return "AVX-512 E1";
    default: return "unknown";
    }
}

/* dlopen of `file`, remembered in path on success. */
static void *open_library(const char *file) {
    void *handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (handle != NULL) snprintf(path, sizeof path, "%s", file);
    return handle;
}

int bench_mkl_load(void) {
    if (sgemm != NULL) return 1;
    setenv("MKL_THREADING_LAYER", "INTEL", 0);
    void *handle = NULL;
    const char *named = getenv("MKL_RT"), *venv = getenv("VIRTUAL_ENV");
    if (named != NULL) {
        handle = open_library(named);
    } else {
        handle = open_library("libmkl_rt.so.3");
        if (handle == NULL) handle = open_library("libmkl_rt.so.2");
        if (handle == NULL && venv != NULL) {
            char file[1024];
            snprintf(file, sizeof file, "%s/lib/libmkl_rt.so.3", venv);
            handle = open_library(file);
        }
    }
    if (handle == NULL) {
        snprintf(error, sizeof error, "%s", named != NULL ? dlerror()
                 : "libmkl_rt.so.3 not found: pip install mkl, then set MKL_RT=<venv>/lib/libmkl_rt.so.3 or activate the venv");
        return 0;
    }
    cblas_sgemm_fn found = (cblas_sgemm_fn)dlsym(handle, "cblas_sgemm");
    set_num_threads = (set_num_threads_fn)dlsym(handle, "MKL_Set_Num_Threads");
    get_version_string_fn get_version = (get_version_string_fn)dlsym(handle, "MKL_Get_Version_String");
    get_auto_branch_fn get_branch = (get_auto_branch_fn)dlsym(handle, "mkl_cbwr_get_auto_branch");
    if (found == NULL || set_num_threads == NULL) {
        snprintf(error, sizeof error, "%s has no cblas_sgemm or MKL_Set_Num_Threads", path);
        return 0;
    }
    if (get_version != NULL) get_version(version, (int)sizeof version);
    snprintf(code_path, sizeof code_path, "%s", get_branch != NULL ? branch_name(get_branch()) : "unknown");
    error[0] = 0;
    sgemm = found;
    return 1;
}

const char *bench_mkl_error(void) { return error; }
const char *bench_mkl_version(void) { return version; }
const char *bench_mkl_path(void) { return path; }
const char *bench_mkl_code_path(void) { return code_path; }

void bench_mkl_set_num_threads(int threads) { set_num_threads(threads); }

void bench_mkl_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc) {
    sgemm(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, trans_b ? TRANS : NO_TRANS, (int)m, (int)n,
          (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}
