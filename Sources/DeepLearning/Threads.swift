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
    public static var count: Int {
        get { Int(ck_get_num_threads()) }
        set {
            require(newValue >= 1, "Threads.count: \(newValue) must be at least 1")
            ck_set_num_threads(Int32(newValue))
        }
    }

    /// Restores the default thread count.
    public static func reset() { ck_set_num_threads(0) }
}
