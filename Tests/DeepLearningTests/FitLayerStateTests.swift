import XCTest
@testable import DeepLearning

/// A batch of `Model.fit` whose loss is NaN leaves the buffers and counters of layers of your
/// own, written in place by their passes through the public API, as the batch before left
/// them, on the graph and on the fused path, however many paths reach them.
final class FitLayerStateTests: XCTestCase {
    /// Adds the column sums of `x` (`[rows, sums.count]`) to `sums` and counts the call in
    /// `calls`, in place.
    private static func tally(_ x: Tensor, into sums: Tensor, calls: Counter) {
        x.withUnsafeBufferPointer { x in
            sums.withUnsafeMutableBufferPointer { sums in
                for (index, value) in x.enumerated() { sums[index % sums.count] += value }
            }
        }
        calls.value += 1
    }

    /// The identity, written from operations, that tallies its inputs in a buffer and a
    /// counter, and keeps a buffer it only reads: a layer of yours that runs on the graph.
    final class Tally: Layer {
        let sums: Tensor
        let calls: Counter
        let table = Tensor(shape: [2], values: [5, 6])

        init(sums: Tensor = Tensor(shape: [4]), calls: Counter = Counter()) {
            (self.sums, self.calls) = (sums, calls)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            FitLayerStateTests.tally(x, into: sums, calls: calls)
            return x * (table.sum() / 11)
        }
    }

    /// The identity with forward and backward passes of its own that tallies its inputs as
    /// `Tally` does: a layer of yours that runs on the fused path.
    final class TallyFunction: Function {
        let sums: Tensor
        let calls: Counter

        init(sums: Tensor = Tensor(shape: [4]), calls: Counter = Counter()) {
            (self.sums, self.calls) = (sums, calls)
        }

        var namedBuffers: [(name: String, tensor: Tensor)] { [(name: "sums", tensor: sums)] }
        var namedCounters: [(name: String, counter: Counter)] {
            [(name: "calls", counter: calls)]
        }

        func forward(_ input: Tensor) -> Tensor {
            FitLayerStateTests.tally(input, into: sums, calls: calls)
            return Tensor(shape: input.shape, values: input.values)
        }

        func backward(_ outputGradient: Tensor) -> Tensor {
            Tensor(shape: outputGradient.shape, values: outputGradient.values)
        }
    }

    /// 12 random points in 3 batches of 4, without shuffling; the third batch holds a NaN.
    private let inputs: Tensor = {
        var generator = SeededGenerator(seed: 3)
        let inputs = randomTensor([12, 2], using: &generator)
        inputs.withUnsafeMutableBufferPointer { $0[19] = .nan }
        return inputs
    }()
    private let labels = (0..<12).map { Int32($0 % 3) }

    /// Trains `model` (its first layer `Linear(2, 4)`) and checks that it throws the NaN loss
    /// of batch 3 and leaves `sums` and `calls` as batch 2 (before its update) left them, after
    /// `expectedCalls` calls by then (one a pass for each layer that tallies), the version
    /// of `sums` raised by putting it back, after the batch's writes.
    private func checkFailureInBatchThree(_ model: Model, sums: Tensor, calls: Counter,
                                          expectedCalls: Int64, _ name: String,
                                          file: StaticString = #filePath, line: UInt = #line) {
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
        var lastStep: (sums: [Float], calls: Int64, version: Int)?
        XCTAssertThrowsError(try model.fit(inputs, labels: labels, optimizer: optimizer,
                                           epochs: 1, batchSize: 4, shuffle: false,
                                           beforeStep: { _, _ in
                                               lastStep = (sums.values, calls.value,
                                                           sums.version)
                                           }),
                             name, file: file, line: line) { error in
            guard case DeepLearningError.nonFiniteLoss(value: _, epoch: 1, batch: 3) = error else {
                return XCTFail("\(name): \(error)", file: file, line: line)
            }
        }
        XCTAssertEqual(lastStep?.calls, expectedCalls, name, file: file, line: line)
        XCTAssertTrue(sums.values.allSatisfy(\.isFinite), "\(name): \(sums.values)",
                      file: file, line: line)
        XCTAssertEqual(sums.values, lastStep?.sums, name, file: file, line: line)
        XCTAssertEqual(calls.value, lastStep?.calls, name, file: file, line: line)
        XCTAssertGreaterThan(sums.version, (lastStep?.version ?? 0) + Int(expectedCalls / 3),
                             name, file: file, line: line)
    }

    /// The copy of the layers' buffers, which `fit` asks for before its first batch, stops
    /// with the bytes named when the system refuses it: here the address space is limited
    /// below it.
    func testFitStopsWhenItCannotCopyTheLayersBuffers() throws {
        try assertStops(withMessage: "Model.fit: the copy of the layers' buffers needs 67108864 bytes, which the system cannot allocate") {
            let function = TallyFunction(sums: Tensor(uninitializedShape: [1 << 24]))  // 64 MiB
            let model = Model { Linear(2, 4, seed: 1); function; ReLU(); Linear(4, 3, seed: 2) }
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
            limitAddressSpace(toCurrentPlus: 32 << 20)
            _ = try? model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 1,
                               batchSize: 4)
        }
    }

    func testAFailedBatchPutsBackTheBuffersAndCountersOfYourLayers() {
        let tally = Tally()
        let tableVersion = tally.table.version
        // One call for fit's check of one sample, one for each of batches 1 and 2.
        checkFailureInBatchThree(Model { Linear(2, 4, seed: 1); tally; Linear(4, 3, seed: 2) },
                                 sums: tally.sums, calls: tally.calls, expectedCalls: 3, "graph")
        XCTAssertEqual(tally.table.values, [5, 6])
        XCTAssertEqual(tally.table.version, tableVersion, "a buffer only read is not rewritten")
        for fused in [true, false] {
            let function = TallyFunction()
            let model = Model { Linear(2, 4, seed: 1); function; ReLU(); Linear(4, 3, seed: 2) }
            model.allowsFusedPath = fused
            checkFailureInBatchThree(model, sums: function.sums, calls: function.calls,
                                     expectedCalls: 3, fused ? "fused" : "function on the graph")
        }
    }

    /// A layer listed twice, another sharing its buffer and counter, and one holding a view of
    /// that buffer (another tensor of the same storage): each tallies into the same buffer.
    func testABufferAndCounterReachedAlongSeveralPathsArePutBackAsTheyWere() {
        let tally = Tally()
        let sharing = Tally(sums: tally.sums, calls: tally.calls)
        let viewing = Tally(sums: tally.sums.reshaped([4]), calls: tally.calls)
        checkFailureInBatchThree(Model {
            Linear(2, 4, seed: 1); tally; sharing; Model { tally; viewing }; Linear(4, 3, seed: 2)
        }, sums: tally.sums, calls: tally.calls, expectedCalls: 12, "graph")
        let function = TallyFunction()
        let sharingFunction = TallyFunction(sums: function.sums, calls: function.calls)
        checkFailureInBatchThree(Model {
            Linear(2, 4, seed: 1); function; sharingFunction; Linear(4, 3, seed: 2)
        }, sums: function.sums, calls: function.calls, expectedCalls: 6, "fused")
    }
}
