/* libpng (Debian: libpng-dev), for the spiral example's picture. */
#include <png.h>
