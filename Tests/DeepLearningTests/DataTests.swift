import XCTest
@testable import DeepLearning

final class DataTests: XCTestCase {
    /// Inputs whose single feature is the sample's index, and labels index % 3.
    private func indexedData(_ samples: Int) -> (Tensor, [Int32]) {
        (Tensor(shape: [samples, 1], values: (0..<samples).map(Float.init)),
         (0..<samples).map { Int32($0 % 3) })
    }

    func testEveryEpochVisitsEverySampleOnceWithAPartialLastBatch() throws {
        let (inputs, labels) = indexedData(23)
        let loader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 5, seed: 4)
        XCTAssertEqual(loader.batchCount, 5)
        var orders: [[Int]] = []
        for _ in 0..<2 {
            var seen: [Int] = []
            var sizes: [Int] = []
            loader.forEachBatch { _, batchInputs, batchLabels in
                let indices = batchInputs.values.map { Int($0) }
                XCTAssertEqual(batchLabels.map(Int.init), indices.map { $0 % 3 }, "labels follow inputs")
                seen += indices
                sizes.append(indices.count)
            }
            XCTAssertEqual(sizes, [5, 5, 5, 5, 3])
            XCTAssertEqual(seen.sorted(), Array(0..<23))
            orders.append(seen)
        }
        XCTAssertNotEqual(orders[0], orders[1], "reshuffled every epoch")
        XCTAssertNotEqual(orders[0], Array(0..<23), "shuffled")
    }

    /// With `dropLast`, every epoch has only full batches, drawn from a new shuffle.
    func testDropLastLeavesOutThePartialLastBatch() throws {
        let (inputs, labels) = indexedData(23)
        let loader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 5,
                                         dropLast: true, seed: 4)
        XCTAssertEqual(loader.batchCount, 4)
        XCTAssertEqual(loader.lastBatchSize, 5)
        var seen = Set<Int>()
        for _ in 0..<3 {
            var sizes: [Int] = []
            loader.forEachBatch { _, batchInputs, _ in
                sizes.append(batchInputs.shape[0])
                seen.formUnion(batchInputs.values.map { Int($0) })
            }
            XCTAssertEqual(sizes, [5, 5, 5, 5])
        }
        XCTAssertGreaterThan(seen.count, 20, "the left-out samples change with the shuffle")
        let partial = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 5)
        XCTAssertEqual(partial.lastBatchSize, 3)
        // A batch size beyond the data set gives one batch of all samples, kept.
        let whole = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 50,
                                        dropLast: true)
        XCTAssertEqual(whole.batchCount, 1)
        XCTAssertEqual(whole.lastBatchSize, 23)
    }

    func testShufflingIsReproducibleFromTheSeedAndCanBeTurnedOff() throws {
        let (inputs, labels) = indexedData(10)
        func firstEpoch(seed: UInt64, shuffle: Bool = true) throws -> [Float] {
            var order: [Float] = []
            try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 4, shuffle: shuffle,
                                seed: seed).forEachBatch { _, batch, _ in order += batch.values }
            return order
        }
        XCTAssertEqual(try firstEpoch(seed: 1), try firstEpoch(seed: 1))
        XCTAssertNotEqual(try firstEpoch(seed: 1), try firstEpoch(seed: 2))
        XCTAssertEqual(try firstEpoch(seed: 1, shuffle: false), (0..<10).map(Float.init))
    }

    func testSpiralHasTheArticlesShape() {
        let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3, noise: 0)
        XCTAssertEqual(inputs.shape, [300, 2])
        XCTAssertEqual(labels, (0..<300).map { Int32($0 / 100) })
        let values = inputs.values
        // Without noise, the last point of arm j has radius 1 and angle 4(j + 1).
        for arm in 0..<3 {
            let row = arm * 100 + 99
            XCTAssertEqual(values[2 * row], sin(Float(4 * (arm + 1))), accuracy: 1e-5)
            XCTAssertEqual(values[2 * row + 1], cos(Float(4 * (arm + 1))), accuracy: 1e-5)
        }
        XCTAssertEqual(values[0], 0)
        XCTAssertEqual(spiral(seed: 5).inputs.values, spiral(seed: 5).inputs.values)
    }

    /// Points too many to count stop before their count overflows.
    func testSpiralStopsOnPointsTooManyToCount() throws {
        try assertStops(withMessage: "spiral: 4611686018427387903 × 3 points are too many: their count must fit in an Int and the classes in Int32 labels") {
            _ = spiral(pointsPerClass: Int.max / 2, classes: 3)
        }
    }

    func testInitializersHaveTheirDistributions() {
        var generator = SeededGenerator(seed: 11)
        let tensor = Tensor(shape: [200, 300])
        func moments() -> (mean: Double, std: Double, maxAbs: Float) {
            let values = tensor.values.map(Double.init)
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            return (mean, variance.squareRoot(), tensor.values.map(abs).max()!)
        }
        let cases: [(Initializer, std: Double, limit: Float?)] = [
            (.normal(std: 0.01), 0.01, nil),
            (.heNormal, (2.0 / 200).squareRoot(), nil),
            (.glorotNormal, (2.0 / 500).squareRoot(), nil),
            (.heUniform, (6.0 / 200).squareRoot() / 3.0.squareRoot(), Float((6.0 / 200).squareRoot())),
            (.glorotUniform, (6.0 / 500).squareRoot() / 3.0.squareRoot(), Float((6.0 / 500).squareRoot())),
            (.uniform(low: -2, high: 2), 2 / 3.0.squareRoot(), 2),
        ]
        for (initializer, std, limit) in cases {
            initializer.fill(tensor, fanIn: 200, fanOut: 300, using: &generator)
            let (mean, measuredStd, maxAbs) = moments()
            XCTAssertEqual(mean, 0, accuracy: 0.02 * std, "\(initializer)")
            XCTAssertEqual(measuredStd, std, accuracy: 0.02 * std, "\(initializer)")
            if let limit { XCTAssertLessThanOrEqual(maxAbs, limit, "\(initializer)") }
        }
        Initializer.constant(0.5).fill(tensor, fanIn: 1, fanOut: 1, using: &generator)
        XCTAssertEqual(Set(tensor.values), [0.5])
    }

    func testHeInitializerStopsOnAFanInBelowOne() throws {
        try assertStops(withMessage: "Initializer.heNormal: fanIn 0 must be at least 1") {
            var generator = SeededGenerator(seed: 1)
            Initializer.heNormal.fill(Tensor(shape: [2, 3]), fanIn: 0, fanOut: 3, using: &generator)
        }
    }

    func testGlorotInitializerStopsOnAFanBelowOne() throws {
        try assertStops(withMessage: "Initializer.glorotUniform: fanIn 0 and fanOut 0 must be at least 1") {
            var generator = SeededGenerator(seed: 1)
            Initializer.glorotUniform.fill(Tensor(shape: [2, 3]), fanIn: 0, fanOut: 0,
                                           using: &generator)
        }
    }

    func testUniformInitializerStopsOnARangeOfInfiniteWidth() throws {
        try assertStops(withMessage: "Initializer.uniform: the range -3.4028235e+38..<3.4028235e+38 must have a finite width") {
            var generator = SeededGenerator(seed: 1)
            Initializer.uniform(low: -.greatestFiniteMagnitude, high: .greatestFiniteMagnitude)
                .fill(Tensor(shape: [2]), fanIn: 1, fanOut: 1, using: &generator)
        }
    }

    func testNormalInitializerStopsOnAnInfiniteStd() throws {
        try assertStops(withMessage: "Initializer.normal: std inf must be finite and not negative") {
            var generator = SeededGenerator(seed: 1)
            Initializer.normal(std: .infinity).fill(Tensor(shape: [2]), fanIn: 1, fanOut: 1,
                                                    using: &generator)
        }
    }

    func testTensorStorageIsAlignedAndGrowsOnlyWhenNeeded() {
        let tensor = Tensor(shape: [3, 5])
        XCTAssertEqual(Int(bitPattern: tensor.value) % 64, 0)
        XCTAssertEqual(Int(bitPattern: tensor.gradientPointer) % 64, 0)
        XCTAssertTrue(Tensor.reusing(tensor, shape: [2, 7]) === tensor)
        XCTAssertEqual(tensor.shape, [2, 7])
        XCTAssertFalse(Tensor.reusing(tensor, shape: [4, 4]) === tensor)
    }
}
