import CKernels
import Foundation

/// The number of threads the kernels may use.
///
/// The default is OpenMP's: `OMP_NUM_THREADS` when set, otherwise the number of processors,
/// at most `maximumCount`. An `OMP_NUM_THREADS` above it is clamped to it, with one line on
/// standard error the first time a kernel asks: the variable is read by every OpenMP program
/// started in the same environment (a job script may set it for a larger machine), so a
/// value too large for this library is not a mistake in the program, and libomp itself warns
/// and carries on with a value it can use when one is out of its range. Setting `count`
/// beyond the maximum, in the program itself, stops instead.
/// Small operations run on the calling thread whatever this says, and results never depend on
/// it (bit for bit).
///
/// ```swift
/// Threads.count = 1   // serial
/// Threads.reset()     // back to the default
/// ```
public enum Threads {
    /// The number of threads the kernels may use, in `1...maximumCount`; setting another
    /// value stops the program with a message. One setting for the whole process, but threads
    /// that run kernels at the same time each open their own team of up to `count` threads
    /// (<doc:ThreadsAndReproducibility>, "Concurrency").
    public static var count: Int {
        get { Int(ck_get_num_threads()) }
        set {
            // The kernels refuse a count above the maximum (0 and below would restore the
            // default, so those are refused here).
            require(newValue >= 1 && ck_set_num_threads(Int32(clamping: newValue)) == 0,
                    "Threads.count: \(newValue) must be in 1...\(maximumCount): at most 256, or the number of processors where that is more; more threads than processors only slow the kernels down")
        }
    }

    /// The largest `count`: the processors available to the process, or 256 when that is
    /// more. More threads than processors never make a kernel faster, but a few more than
    /// this machine has may be set where a program runs that was tuned for a larger one, or
    /// to test how work is split; a count far beyond that (a mistyped one) would make OpenMP
    /// start that many threads in each team, which takes seconds and memory for thousands and
    /// exhausts the system's threads for millions.
    public static var maximumCount: Int { Int(ck_max_num_threads()) }

    /// Restores the default thread count.
    public static func reset() { ck_set_num_threads(0) }
}
