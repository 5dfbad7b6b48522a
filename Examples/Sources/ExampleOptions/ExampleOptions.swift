import DeepLearning

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

/// The most kernel threads the examples run on: the library's `Threads.maximumCount` (256, or
/// the number of processors where that is more), so that a larger `--threads` gets the
/// option's message instead of stopping the program in `Threads.count`.
public var maximumThreads: Int { Threads.maximumCount }

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

/// The settings every example's experiment has, under the options the examples share:
/// `--epochs`, `--batch-size`, `--learning-rate`, `--seed`.
public protocol TrainingSettings {
    /// The passes over the training data.
    var epochs: Int { get set }
    /// The samples of a mini-batch.
    var batchSize: Int { get set }
    /// The optimizer's step size.
    var learningRate: Float { get set }
    /// Seeds the initial weights and the shuffling.
    var seed: UInt64 { get set }
    /// Throws `InvalidOption` naming the first setting outside its option's range.
    func validate() throws
}

extension TrainingSettings {
    /// Throws `InvalidOption` unless the settings every example has are in their options'
    /// ranges: epochs in 1...`maximumEpochs`, a batch size of at least 1, a positive learning
    /// rate.
    public func checkTrainingSettings() throws {
        try checkOption("--epochs", epochs, in: 1...maximumEpochs)
        guard batchSize >= 1 else {
            throw InvalidOption(description: "--batch-size must be at least 1, got \(batchSize)")
        }
        try checkOption("--learning-rate", learningRate)
    }
}

/// The message of the first setting of `settings`, or of `threads` (the `--threads` option, nil
/// when absent, in 1...`maximumThreads`), outside its option's range; nil when all are in range.
public func invalidOption(in settings: some TrainingSettings, threads: Int?) -> String? {
    do {
        try settings.validate()
        if let threads { try checkOption("--threads", threads, in: 1...maximumThreads) }
        return nil
    } catch {
        return "\(error)"
    }
}
