import CKernels
import DeepLearning
import Foundation

/// Data-parallel training over the ranks of a `World`, as PyTorch's DistributedDataParallel:
/// every rank holds the same model, computes the gradient of its share of each global batch,
/// and steps on the global batch's mean gradient, so that the parameters stay bitwise
/// identical on every rank.
///
/// Making it checks that every rank's model has the same layers and tensor shapes (every rank
/// throws a message naming the first difference otherwise) and copies rank 0's parameters,
/// buffers and counters to every rank.
///
/// ```swift
/// let world = World()
/// let parallel = try DataParallel(model: model, world: world)
/// let losses = try parallel.fit(model, inputs: inputs, labels: labels,
///                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
///                               epochs: 200, globalBatchSize: 20)
/// world.finalize()
/// ```
///
/// Each step the ranks agree once, after everything in the step that can throw and before
/// the update (`synchronize(loss:samples:)`): on the global mean loss and on whether any rank
/// failed, so that an error on one rank (a label out of range, a NaN loss, a file that cannot
/// be written) stops every rank with that rank's message instead of leaving the others
/// waiting. Then the gradients are combined (`combineGradients(of:)`, which
/// `DistributedOptimizer.step()` calls) and rank 0's buffers broadcast. Every agreement also
/// checks that the ranks are at the same kind of agreement, so that ranks taking different
/// numbers of steps throw a `DistributedError` instead of waiting for each other.
public final class DataParallel {
    /// The ranks.
    public let world: World
    /// The tensors whose gradients are combined, in the same order on every rank.
    public let parameters: [Tensor]
    /// Tensors every rank takes from rank 0 after every step (BatchNorm's running statistics),
    /// each once.
    public let buffers: [Tensor]
    /// The counts every rank takes from rank 0 at the start (BatchNorm's batch count), each
    /// once; every rank takes the same steps, so they then advance alike.
    private let counters: [Counter]
    /// The largest number of floats combined in one exchange: gradients are summed bucket by
    /// bucket. The same on every rank (each step's agreement checks it, and throws on every
    /// rank when a rank's differs), and at least 1: setting it below stops with a message.
    public var bucketSize = 1 << 20 {
        didSet {
            require(bucketSize >= 1, "DataParallel: bucketSize \(bucketSize) must be at least 1")
        }
    }
    /// Gradients of at least this many floats are summed where they are, in buckets of their
    /// own; smaller ones are copied together into flat buckets, so that many small tensors
    /// share one exchange. Either way each element is summed in rank order: the choice
    /// changes the time, never the bits. The same on every rank (checked as `bucketSize`).
    public var inPlaceMinimum = 1 << 16
    /// Called on every rank after each step's agreement, with the step's number (from 1, the
    /// same on every rank: a step whose agreement throws is not counted) and the global
    /// batch's mean loss.
    public var onStep: ((_ step: Int, _ globalLoss: Float) -> Void)?

    /// The current step's sample counts: this rank's and the global batch's.
    private var localSamples = 0, globalSamples = 0
    private var steps = 0
    /// The current epoch's loss summed over the global samples, and their count.
    private var epochLossSum = 0.0, epochSamples = 0
    /// The flat buffer gradients are combined in, grown and reused.
    private var flat: [Float] = []
    /// The parameters of the `DistributedOptimizer`s made since the last step's agreement
    /// (`places(of:)` of each), which that agreement compares across the ranks.
    var uncheckedOptimizers: [String] = []

    /// Data parallelism for `model`: checks the ranks' models agree and copies rank 0's
    /// parameters, buffers and counters (BatchNorm's batch count) to every rank, those of
    /// nested layers (a `Model` inside the model, a layer's sub-layers) too.
    public convenience init(model: Model, world: World) throws {
        let tree = model.layerTree.dropFirst()  // every layer below the model, by path
        var description: [String] = []
        for (path, layer) in tree {
            for (name, tensor) in layer.namedParameters + layer.namedBuffers {
                description.append("layer \(path) \(layer) \(name) \(tensor.shape)")
            }
            for (name, _) in layer.namedCounters {
                description.append("layer \(path) \(layer) \(name) counter")
            }
        }
        try self.init(parameters: model.parameters,
                      buffers: eachOnce(tree.flatMap { $0.layer.namedBuffers.map(\.tensor) }),
                      counters: eachOnce(tree.flatMap { $0.layer.namedCounters.map(\.counter) }),
                      description: description, world: world)
    }

    /// Data parallelism for a hand-written model: `parameters` (updated by the optimizer) and
    /// `buffers` (copied from rank 0 after every step), the same shapes in the same order on
    /// every rank.
    public convenience init(parameters: [Tensor], buffers: [Tensor] = [], world: World) throws {
        let description = parameters.enumerated().map {
            "parameter \($0.offset) \($0.element.shape)"
        }
            + buffers.enumerated().map { "buffer \($0.offset) \($0.element.shape)" }
        try self.init(parameters: parameters, buffers: buffers, counters: [],
                      description: description, world: world)
    }

    /// Checks that every rank's `description` (one line per tensor or counter) is rank 0's,
    /// then copies rank 0's parameters, buffers and counters to every rank.
    private init(parameters: [Tensor], buffers: [Tensor], counters: [Counter],
                 description: [String], world: World) throws {
        self.world = world
        self.parameters = parameters
        self.buffers = buffers
        self.counters = counters
        try agree(.start, failure: nil)
        try agreeWithRankZero(description, on: "model", round: .start)
        for tensor in parameters + buffers {
            tensor.withUnsafeMutableBufferPointer {
                world.broadcast($0.baseAddress!, count: $0.count, from: 0)
            }
        }
        // Each count as two floats' bits: its low and its high 32 bits.
        var copied = counters.map { Float(bitPattern: UInt32(truncatingIfNeeded: $0.value)) }
            + counters.map { Float(bitPattern: UInt32(truncatingIfNeeded: $0.value >> 32)) }
        copied.withUnsafeMutableBufferPointer {
            world.broadcast($0.baseAddress!, count: $0.count, from: 0)
        }
        for (index, counter) in counters.enumerated() {
            counter.value = Int64(copied[index].bitPattern)
                | Int64(copied[counters.count + index].bitPattern) << 32
        }
    }

    /// Throws on every rank the first difference between a rank's `lines` and rank 0's,
    /// naming what they describe ("its model differs from rank 0's: LINE, rank 0 has LINE").
    /// Call it right after an agreement of kind `round`, which brings every rank here.
    private func agreeWithRankZero(_ lines: [String], on subject: String, round: Round) throws {
        let text = world.broadcast(lines.joined(separator: "\n"), from: 0)
        let root = text.isEmpty ? []
            : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try agree(round, failure: DataParallel.difference(between: lines, and: root, on: subject))
    }

    /// What differs between this rank's `subject` and rank 0's, or nil.
    private static func difference(between mine: [String], and root: [String],
                                   on subject: String) -> String? {
        if let index = zip(mine, root).enumerated()
            .first(where: { $0.element.0 != $0.element.1 })?.offset
        {
            return "its \(subject) differs from rank 0's: \(mine[index]), rank 0 has \(root[index])"
        }
        guard mine.count == root.count else {
            return "its \(subject) has \(mine.count) parts, rank 0's has \(root.count)"
        }
        return nil
    }

    // MARK: Agreement

    /// The kinds of agreement. Every rank must be at the same kind: a rank that finished its
    /// steps while another takes one more would otherwise pair its next exchange with the
    /// other's step and leave the ranks waiting in different operations.
    private enum Round: Int {
        case start, plan, step, end, accuracy, hash

        /// What a rank at this round, after `steps` steps, is doing.
        func activity(steps: Int) -> String {
            switch self {
            case .start: "makes a DataParallel"
            case .plan: "starts a fit"
            case .step: "takes step \(steps)"
            case .end: "has finished run after \(steps) steps"
            case .accuracy: "computes an accuracy"
            case .hash: "compares its parameters' hash"
            }
        }
    }

    /// The number of values a rank passes to `agree`.
    private static let agreedValues = 5

    /// One round of agreement: every rank passes the kind of round it is at, its failure (or
    /// nil) and up to `agreedValues` values, and gets every rank's values, indexed by rank.
    /// When any rank failed, every rank throws the lowest failing rank's message; when the
    /// ranks are at different kinds of round, every rank throws a message naming what the
    /// first differing rank and rank 0 are doing.
    @discardableResult
    private func agree(_ round: Round, failure: String?, values: [Double] = []) throws
        -> [[Double]]
    {
        let padded = values + repeatElement(0, count: DataParallel.agreedValues - values.count)
        let all = world.allGather([failure == nil ? 0 : 1, Double(round.rawValue), Double(steps)]
                                      + padded)
        if let failed = all.firstIndex(where: { $0[0] != 0 }) {
            throw DistributedError(rank: failed, message: world.broadcast(failure ?? "",
                                                                            from: failed))
        }
        func activity(_ rank: Int) -> String {
            Round(rawValue: Int(all[rank][1]))!.activity(steps: Int(all[rank][2]))
        }
        if let other = all.firstIndex(where: { $0[1] != all[0][1] }) {
            throw DistributedError(rank: other, message: "it \(activity(other)) while rank 0 "
                                       + "\(activity(0)): every rank must take the same steps")
        }
        return all.map { Array($0[3...]) }
    }

    /// Agrees on a step: this rank's mean loss over its `samples` samples of the global batch
    /// (a hand-written loop calls this after everything in its step that can throw, and
    /// before `step()`: an error thrown on one rank between the two would leave the other
    /// ranks waiting in the gradients' exchange). Returns the global batch's mean loss, the
    /// same on every rank. Throws `DistributedError` on every rank when the loss is NaN or
    /// infinite on any rank.
    public func synchronize(loss: Float, samples: Int) throws -> Float {
        try synchronize(loss: loss, samples: samples, failure: nil)
    }

    /// `synchronize(loss:samples:)` with this rank's failure, if any. Also checks that every
    /// rank combines gradients in rank 0's buckets (`bucketSize`, `inPlaceMinimum`: ranks
    /// that differ would pair exchanges of different lengths), and, when some rank made a
    /// `DistributedOptimizer` since the last step, that every rank's new optimizers update
    /// the same parameters as rank 0's.
    func synchronize(loss: Float, samples: Int, failure: String?) throws -> Float {
        steps += 1
        let failure = failure ?? (loss.isFinite ? nil : "the loss is \(loss) at step \(steps)")
        let all: [[Double]]
        do {
            all = try agree(.step, failure: failure,
                            values: [Double(loss) * Double(samples), Double(samples),
                                     uncheckedOptimizers.isEmpty ? 0 : 1,
                                     Double(bucketSize), Double(inPlaceMinimum)])
            if let other = all.firstIndex(where: { $0[3...4] != all[0][3...4] }) {
                // Agreed as Doubles: a setting beyond 2^53 shown as its Double (Int.max's,
                // 2^63, is no Int).
                func setting(_ value: Double) -> String {
                    Int(exactly: value).map(String.init) ?? "\(value)"
                }
                func buckets(_ rank: Int) -> String {
                    "bucketSize \(setting(all[rank][3])), inPlaceMinimum \(setting(all[rank][4]))"
                }
                throw DistributedError(rank: other, message: "it combines gradients with "
                                           + "\(buckets(other)), rank 0 with \(buckets(0)): "
                                           + "every rank must use the same")
            }
            if all.contains(where: { $0[2] != 0 }) {
                let made = uncheckedOptimizers.isEmpty ? ["none made"]
                    : uncheckedOptimizers.map { "parameters \($0)" }
                uncheckedOptimizers = []
                try agreeWithRankZero(made, on: "DistributedOptimizer", round: .step)
            }
        } catch {
            // A step the ranks did not agree on is not taken: every rank, the failing one
            // too, counts the steps taken alike.
            steps -= 1
            throw error
        }
        let lossSum = all.reduce(0) { $0 + $1[0] }
        localSamples = samples
        globalSamples = Int(all.reduce(0) { $0 + $1[1] })
        epochLossSum += lossSum
        epochSamples += globalSamples
        let globalLoss = Float(lossSum / Double(globalSamples))
        onStep?(steps, globalLoss)
        return globalLoss
    }

    /// Runs `body` on every rank; when it throws on some rank, every rank throws the agreed
    /// `DistributedError` (the other ranks at their next agreement, so `body` must agree
    /// through `synchronize` or `fit`). When it returns on every rank, the ranks agree once
    /// more, so that a failure in a rank's last step reaches every rank.
    ///
    /// An error thrown after `synchronize(loss:samples:)` and before the gradients are
    /// combined (`DistributedOptimizer.step()`) cannot reach the other ranks, which wait in
    /// the gradients' exchange: the rank prints it, naming itself, and ends the job
    /// (`World.abort(code:)`). On a world of one rank, where no rank waits, it is thrown as
    /// any other.
    public func run<Result>(_ body: () throws -> Result) throws -> Result {
        let result: Result
        do {
            result = try body()
        } catch let error as DistributedError {
            throw error
        } catch {
            // Synchronized, gradients not combined: the other ranks wait in the exchange.
            if globalSamples > 0 && world.size > 1 {
                FileHandle.standardError.write(Data((
                    "rank \(world.rank): \(error), thrown after synchronize(loss:samples:) and "
                        + "before the step, while the other ranks combine the gradients: "
                        + "ending the job\n").utf8))
                world.abort(code: 1)
            }
            try agree(.end, failure: "\(error)")
            fatalError("unreachable: the agreement throws the failure")
        }
        try agree(.end, failure: nil)
        return result
    }

    /// Starts a new epoch's global mean loss.
    func resetEpochLoss() {
        (epochLossSum, epochSamples) = (0, 0)
    }

    /// The global mean loss since `resetEpochLoss()`, and starts the next epoch's.
    func takeEpochLoss() -> Float {
        defer { resetEpochLoss() }
        return Float(epochLossSum / Double(epochSamples))
    }

    // MARK: Gradients and buffers

    /// Replaces every gradient of `parameters` by the global batch's mean gradient: each
    /// rank's gradient (a mean over its samples) weighted by its share of the global batch's
    /// samples, summed across the ranks by `World.sumAcrossRanks` (each element summed once,
    /// in rank order: the same bits on every rank). Gradients of `inPlaceMinimum` floats or
    /// more are weighted and summed in place; the others travel together in flat buckets.
    /// A parameter that has no gradient on any rank (no backward pass reached it since
    /// `zeroGrad()`) keeps none, so that the optimizer leaves it out as in one process (and
    /// as DistributedDataParallel); one that has a gradient on some rank gets the mean on
    /// every rank, a rank without one counting zeros. Every rank must pass the same tensors
    /// in the same order (`DistributedOptimizer` checks its own; a list passed here is not
    /// checked).
    public func combineGradients(of parameters: [Tensor]) {
        require(globalSamples > 0,
                "DataParallel: call synchronize(loss:samples:) before combining gradients")
        let weight = Float(Double(localSamples) / Double(globalSamples))
        let reached = combineInFlatBuckets(parameters, weight: weight)
        for (parameter, reached) in zip(parameters, reached)
        where reached && parameter.count >= inPlaceMinimum {
            parameter.withUnsafeMutableGradientBufferPointer { gradient in
                guard let values = gradient.baseAddress else { return }  // no elements
                ck_scaled_add(Int64(gradient.count), weight, values, 0, values)
                world.sumAcrossRanks(values, count: gradient.count, bucketSize: bucketSize)
            }
        }
        globalSamples = 0
    }

    /// `combineGradients` for the gradients of `parameters` under `inPlaceMinimum` floats
    /// together: each weighted into its place in the flat buffer, followed by one flag per
    /// parameter (1 where it has a gradient), summed across the ranks, and copied back where
    /// some rank has a gradient. Returns, for each of `parameters`, whether some rank has a
    /// gradient for it.
    private func combineInFlatBuckets(_ parameters: [Tensor], weight: Float) -> [Bool] {
        let small = parameters.indices.filter { parameters[$0].count < inPlaceMinimum }
        let flagOffset = small.reduce(0) { $0 + parameters[$1].count }
        let total = flagOffset + parameters.count
        guard total > 0 else { return [] }
        if flat.count < total { flat = [Float](repeating: 0, count: total) }
        return flat.withUnsafeMutableBufferPointer { flat in
            var offset = 0
            for index in small {
                parameters[index].withUnsafeGradientBufferPointer { gradient in
                    ck_scaled_add(Int64(gradient.count), weight, gradient.baseAddress, 0,
                                  flat.baseAddress! + offset)
                }
                offset += parameters[index].count
            }
            for (index, parameter) in parameters.enumerated() {
                flat[flagOffset + index] = parameter.hasGradient ? 1 : 0
            }
            world.sumAcrossRanks(flat.baseAddress!, count: total, bucketSize: bucketSize)
            let reached = parameters.indices.map { flat[flagOffset + $0] > 0 }
            offset = 0
            for index in small {
                if reached[index] {
                    parameters[index].withUnsafeMutableGradientBufferPointer {
                        $0.baseAddress!.update(from: flat.baseAddress! + offset, count: $0.count)
                    }
                }
                offset += parameters[index].count
            }
            return reached
        }
    }

    /// Copies rank 0's buffers (BatchNorm's running statistics) to every rank: DDP's default,
    /// batch statistics local to a rank and rank 0's running statistics for the next forward
    /// pass.
    public func broadcastBuffers() {
        for buffer in buffers {
            buffer.withUnsafeMutableBufferPointer {
                world.broadcast($0.baseAddress!, count: $0.count, from: 0)
            }
        }
    }

    /// A 64-bit FNV-1a hash of the bits of the parameters, buffers and counters.
    public var parameterHash: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ bits: UInt64, bytes: Int) {
            for byte in 0..<bytes {
                hash = (hash ^ (bits >> (8 * byte) & 0xff)) &* 0x100_0000_01b3
            }
        }
        for tensor in parameters + buffers {
            tensor.withUnsafeBufferPointer { values in
                for value in values { add(UInt64(value.bitPattern), bytes: 4) }
            }
        }
        for counter in counters { add(UInt64(bitPattern: counter.value), bytes: 8) }
        return hash
    }

    /// Throws `DistributedError` on every rank unless every rank's `parameterHash` is rank 0's.
    public func checkParametersAgree() throws {
        let hash = parameterHash
        let all = try agree(.hash, failure: nil,
                            values: [Double(hash >> 32), Double(hash & 0xffff_ffff)])
        if let differing = all.firstIndex(where: { $0 != all[0] }) {
            throw DistributedError(rank: differing,
                                   message: "its parameters differ from rank 0's (hash)")
        }
    }

    // MARK: Data

    /// Rank `world.rank`'s share of every global batch of `globalBatchSize` samples, in order:
    /// global batch k (samples k·B ..< (k+1)·B of `inputs`) is cut into `world.size`
    /// consecutive parts, the first (count mod size) one sample larger, and this rank keeps
    /// its part (B at least 1: below stops with a message). With `dropLast`, a last global
    /// batch smaller than B is left out. Without shuffling, this rank's k-th mini-batch of
    /// B / size samples is then its share of global batch k. Throws `DeepLearningError.countMismatch` when `inputs` has not one row per
    /// label (on this rank alone: within `run`, every rank then throws it as
    /// `DistributedError`).
    public func shard(_ inputs: Tensor, labels: [Int32], globalBatchSize: Int,
                      dropLast: Bool = false) throws -> (inputs: Tensor, labels: [Int32]) {
        let samples = inputs.shape.first ?? 0
        guard samples == labels.count else {
            throw DeepLearningError.countMismatch(samples: samples, labels: labels.count)
        }
        let rows = shardRows(samples: labels.count, globalBatchSize: globalBatchSize,
                             dropLast: dropLast)
        return (withoutGradientRecording { inputs.gatheringRows(rows) }, rows.map { labels[$0] })
    }

    /// Rank `world.rank`'s share of every global batch of `inputs` and of `targets`
    /// (`[samples, ...]`, one row per sample), cut as
    /// `shard(_:labels:globalBatchSize:dropLast:)` cuts it. Throws
    /// `DeepLearningError.targetCountMismatch` when `inputs` and `targets` have not as many
    /// rows.
    public func shard(_ inputs: Tensor, targets: Tensor, globalBatchSize: Int,
                      dropLast: Bool = false) throws -> (inputs: Tensor, targets: Tensor) {
        let (samples, rowsOfTargets) = (inputs.shape.first ?? 0, targets.shape.first ?? 0)
        guard samples == rowsOfTargets else {
            throw DeepLearningError.targetCountMismatch(samples: samples, targets: rowsOfTargets)
        }
        let rows = shardRows(samples: samples, globalBatchSize: globalBatchSize,
                             dropLast: dropLast)
        return withoutGradientRecording {
            (inputs.gatheringRows(rows), targets.gatheringRows(rows))
        }
    }

    /// The samples of this rank's share (`shard(_:labels:globalBatchSize:dropLast:)`) of
    /// `samples` samples, in order.
    private func shardRows(samples: Int, globalBatchSize: Int, dropLast: Bool) -> [Int] {
        require(globalBatchSize >= 1,
                "DataParallel.shard: global batch \(globalBatchSize) must be at least 1")
        var rows: [Int] = []
        for start in stride(from: 0, to: samples, by: globalBatchSize) {
            let count = min(globalBatchSize, samples - start)
            if dropLast && count < globalBatchSize { break }
            let ranks = world.size
            let part = { (rank: Int) in count / ranks + (rank < count % ranks ? 1 : 0) }
            let first = start + (0..<world.rank).reduce(0) { $0 + part($1) }
            rows += first..<first + part(world.rank)
        }
        return rows
    }

    /// Agrees on the batch plan: every rank's step count per epoch (`samples` in batches of
    /// `batchSize`, the last partial one left out with `dropLast`; fewer samples than
    /// `batchSize` make one batch, as `MiniBatchLoader` cuts them), when every rank holds
    /// the whole data set its size (`wholeDataSetSamples`), and with `equalShares` that every
    /// rank trains on as many `samples` (resuming from a checkpoint gives every rank rank 0's
    /// mini-batch order), and that every rank's `settings` (one per line: "7 epochs",
    /// "global batch 20", ...) are rank 0's. Throws `DistributedError` on every rank when
    /// they differ, or when a rank failed before the plan within `run` (its error stops every
    /// rank here).
    public func agreeOnPlan(samples: Int, batchSize: Int, dropLast: Bool,
                            wholeDataSetSamples: Int?, equalShares: Bool = false,
                            settings: [String] = []) throws {
        let steps = dropLast && samples >= batchSize ? samples / batchSize
            : (samples + batchSize - 1) / batchSize
        // A rank that failed in `run` takes part in this round, so that its failure, rather
        // than its missing plan, stops every rank.
        let all = try agree(.plan, failure: nil, values: [Double(wholeDataSetSamples ?? -1),
                                                          Double(samples), Double(steps)])
        if let other = all.firstIndex(where: { $0[0] != all[0][0] }) {
            throw DistributedError(
                rank: other,
                message: "its data set holds \(Int(all[other][0])) samples, rank 0's "
                    + "\(Int(all[0][0])): every rank must hold the same data set")
        }
        try agreeWithRankZero(settings, on: "training", round: .plan)
        if let other = all.firstIndex(where: { $0[2] != all[0][2] }) {
            throw DistributedError(
                rank: other,
                message: "it has \(Int(all[other][2])) steps per epoch (\(Int(all[other][1])) "
                    + "samples in batches of \(batchSize)), rank 0 has \(Int(all[0][2])) "
                    + "(\(Int(all[0][1])) samples): every rank must take the same steps"
                    + (wholeDataSetSamples.map { shortLastBatch(samples: $0, batchSize: batchSize) }
                        ?? ""))
        }
        if equalShares, let other = all.firstIndex(where: { $0[1] != all[0][1] }) {
            throw DistributedError(
                rank: other,
                message: "it trains on \(Int(all[other][1])) samples, rank 0 on "
                    + "\(Int(all[0][1])): resuming from a checkpoint needs as many on every "
                    + "rank")
        }
    }

    /// Why ranks holding the whole data set of `samples` samples take different steps, when
    /// that is the reason: its last global batch (of `batchSize` samples a rank) holds fewer
    /// samples than there are ranks, so that some rank has none of it. Empty otherwise (a
    /// loop that shards the data its own way can take different steps for other reasons).
    private func shortLastBatch(samples: Int, batchSize: Int) -> String {
        let last = samples % (batchSize * world.size)
        guard last > 0 && last < world.size else { return "" }
        return "; the last global batch holds \(last) of the \(samples) samples, fewer than "
            + "the \(world.size) ranks, so some rank has none of it: pass dropLast: true or a "
            + "data set whose last global batch holds at least \(world.size) samples"
    }

    /// The parameters among `tensors`, each by its place in `parameters` or as "other" and
    /// its shape: ranks whose lists read alike combine the gradients of the same tensors.
    func places(of tensors: [Tensor]) -> String {
        let places = Dictionary(parameters.enumerated().map {
            (ObjectIdentifier($0.element), $0.offset)
        }, uniquingKeysWith: { first, _ in first })
        return tensors.map {
            places[ObjectIdentifier($0)].map { "\($0)" } ?? "other \($0.shape)"
        }.joined(separator: " ")
    }

    /// The fraction of all ranks' samples whose predicted class is the label (each rank
    /// passes its own samples, possibly none). Throws `DistributedError` on every rank when a
    /// rank's inputs have not one row per label, and `DeepLearningError.emptyDataSet` on
    /// every rank when no rank has a sample.
    public func accuracy(of model: Model, _ inputs: Tensor, labels: [Int32]) throws -> Double {
        let samples = inputs.shape.first ?? 0
        let mismatch = samples == labels.count ? nil
            : DeepLearningError.countMismatch(samples: samples, labels: labels.count)
        let correct = mismatch != nil || labels.isEmpty ? 0
            : zip(model.predict(inputs), labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        let all = try agree(.accuracy, failure: mismatch.map { "\($0)" },
                            values: [Double(correct), Double(labels.count)])
        let total = all.reduce(0) { $0 + $1[1] }
        guard total > 0 else { throw DeepLearningError.emptyDataSet }
        return all.reduce(0) { $0 + $1[0] } / total
    }
}

/// `objects` without repetitions (a layer shared by two paths of the tree lists its state
/// twice), in the order of their first appearance.
private func eachOnce<Object: AnyObject>(_ objects: [Object]) -> [Object] {
    var seen = Set<ObjectIdentifier>()
    return objects.filter { seen.insert(ObjectIdentifier($0)).inserted }
}
