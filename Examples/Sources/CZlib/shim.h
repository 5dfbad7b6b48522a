/* zlib (Debian: zlib1g-dev), for reading the digits example's gzip-compressed data. */
#include <zlib.h>
