import CKernels

/// The number of threads the kernels may use.
///
/// The default is OpenMP's: `OMP_NUM_THREADS` when set, otherwise the number of processors.
/// Small operations run on the calling thread whatever this says, and results never depend on
/// it (bit for bit).
///
/// ```swift
/// Threads.count = 1   // serial
/// Threads.reset()     // back to the default
/// ```
public enum Threads {
    /// The number of threads the kernels may use, in `1...Int32.max`; setting another value
    /// stops the program with a message. One setting for the whole process, but threads that
    /// run kernels at the same time each open their own team of up to `count` threads
    /// (<doc:ThreadsAndReproducibility>, "Concurrency").
    public static var count: Int {
        get { Int(ck_get_num_threads()) }
        set {
            require((1...Int(Int32.max)).contains(newValue),
                    "Threads.count: \(newValue) must be in 1...\(Int32.max)")
            ck_set_num_threads(Int32(newValue))
        }
    }

    /// Restores the default thread count.
    public static func reset() { ck_set_num_threads(0) }
}
