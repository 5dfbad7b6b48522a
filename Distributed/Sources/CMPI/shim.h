#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H

#include <mpi.h>

/* MPI_COMM_WORLD and the predefined datatypes are macros Swift cannot import: these return
 * them. */
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_char(void) { return MPI_CHAR; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }

#endif
