/* OpenBLAS's CBLAS; pkg-config openblas puts its directory (openblas-pthread) on the path. */
#include <cblas.h>
