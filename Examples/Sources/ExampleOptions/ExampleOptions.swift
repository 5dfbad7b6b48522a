/// A value outside the range its option accepts. The examples (`spiral`, `digits`) and
/// Distributed's `mpi-train`, which take the same options, refuse such a value with this
/// message rather than crash (an overflowing shape, a thread count beyond Int32) or train
/// with it.
///
/// ```swift
/// try checkOption("--epochs", 0, in: 1...maximumEpochs)
/// // throws: --epochs must be in 1...1000000, got 0
/// ```
public struct InvalidOption: Error, CustomStringConvertible {
    /// The option, its range and the value: "--epochs must be in 1...1000000, got 0".
    public let description: String
}

/// The most epochs the examples train for.
public let maximumEpochs = 1_000_000

/// The most kernel threads the examples run on.
public let maximumThreads = 1024

/// Throws `InvalidOption` unless `value`, of option `name`, is in `range`.
public func checkOption(_ name: String, _ value: Int, in range: ClosedRange<Int>) throws {
    guard range.contains(value) else {
        throw InvalidOption(description: "\(name) must be in \(range), got \(value)")
    }
}

/// Throws `InvalidOption` unless `value`, of option `name`, is a finite number above 0
/// (`nonNegative`: at least 0).
public func checkOption(_ name: String, _ value: Float, nonNegative: Bool = false) throws {
    guard value.isFinite && (nonNegative ? value >= 0 : value > 0) else {
        throw InvalidOption(description: "\(name) must be "
                                + (nonNegative ? "a number >= 0" : "a positive number")
                                + ", got \(value)")
    }
}

/// Throws `InvalidOption` unless the options every example has are in their ranges: epochs
/// in 1...`maximumEpochs`, a batch size of at least 1, a positive learning rate.
public func checkTrainingOptions(epochs: Int, batchSize: Int, learningRate: Float) throws {
    try checkOption("--epochs", epochs, in: 1...maximumEpochs)
    guard batchSize >= 1 else {
        throw InvalidOption(description: "--batch-size must be at least 1, got \(batchSize)")
    }
    try checkOption("--learning-rate", learningRate)
}

/// Throws `InvalidOption` unless `threads` (the `--threads` option, nil when absent) is in
/// 1...`maximumThreads`.
public func checkThreads(_ threads: Int?) throws {
    if let threads { try checkOption("--threads", threads, in: 1...maximumThreads) }
}
