import Foundation
import XCTest
import DeepLearning
import DigitsExperiment

/// The `digits` example's experiment on the repository's copy of the data set.
final class DigitsTests: XCTestCase {
    /// The data set shipped with the example.
    private func loadData() throws -> DigitsExperiment.LabelledImages {
        try DigitsExperiment.loadData(from: DigitsExperiment.defaultDataPath)
    }

    private func split() throws -> DigitsExperiment.Split {
        DigitsExperiment().split(try loadData())
    }

    func testTheDataAndTheStratifiedSplit() throws {
        let data = try loadData()
        XCTAssertEqual(data.inputs.shape, [1797, 1, 8, 8])
        XCTAssertEqual(data.inputs.values.min(), 0)
        XCTAssertEqual(data.inputs.values.max(), 1)
        let split = try split()
        XCTAssertEqual(split.train.count + split.test.count, 1797)
        // Each digit's count in the test set is 20% of its count in the data, rounded.
        for digit in Int32(0)..<10 {
            let total = data.labels.filter { $0 == digit }.count
            let test = split.test.labels.filter { $0 == digit }.count
            XCTAssertEqual(test, Int((Double(total) * 0.2).rounded()), "digit \(digit)")
        }
        // The split is fixed: the same every time, whatever the training seed.
        var other = DigitsExperiment()
        other.seed = 5
        XCTAssertEqual(other.split(data).test.inputs.values, split.test.inputs.values)
    }

    /// The example's default configuration: median test accuracy over 10 seeds at least 97.5%,
    /// and at least 96% on every seed.
    func testDefaultConfigurationReachesItsAccuracyOnTenSeeds() throws {
        let split = try split()
        var accuracies: [Double] = []
        for seed in 0..<10 {
            var experiment = DigitsExperiment()
            experiment.seed = UInt64(seed)
            accuracies.append(try experiment.run(on: split).testEvaluation.accuracy)
        }
        let sorted = accuracies.sorted()
        let median = (sorted[4] + sorted[5]) / 2
        XCTAssertGreaterThanOrEqual(median, 0.975, "\(accuracies)")
        XCTAssertGreaterThanOrEqual(sorted[0], 0.96, "\(accuracies)")
    }

    /// A saved model, loaded into a new network, gives the same predictions and accuracy.
    func testASavedModelLoadsWithTheSameTestAccuracy() throws {
        let split = try split()
        var experiment = DigitsExperiment()
        experiment.epochs = 3
        let result = try experiment.run(on: split)
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("digits-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try result.model.save(to: path)
        let loaded = DigitsExperiment.makeModel()
        try loaded.load(from: path)
        let evaluation = try Evaluation(model: loaded, on: split.test)
        XCTAssertEqual(evaluation.accuracy, result.testEvaluation.accuracy)
        XCTAssertEqual(evaluation.confusion, result.testEvaluation.confusion)
        XCTAssertEqual(loaded.predict(split.test.inputs), result.model.predict(split.test.inputs))
    }

    func testTheConfusionMatrixCountsEveryTestImage() throws {
        let split = try split()
        var experiment = DigitsExperiment()
        experiment.epochs = 1
        let evaluation = try experiment.run(on: split).testEvaluation
        XCTAssertEqual(evaluation.confusion.joined().reduce(0, +), split.test.count)
        for (digit, row) in evaluation.confusion.enumerated() {
            XCTAssertEqual(row.reduce(0, +), split.test.labels.filter { $0 == digit }.count)
        }
        let correct = evaluation.confusion.indices.reduce(0) { $0 + evaluation.confusion[$1][$1] }
        XCTAssertEqual(evaluation.accuracy, Double(correct) / Double(split.test.count))
        let lines = evaluation.confusionTable.split(separator: "\n")
        XCTAssertEqual(lines.count, 11)
        XCTAssertEqual(Set(lines.map(\.count)).count, 1, "aligned:\n\(evaluation.confusionTable)")
    }

    func testDataErrors() throws {
        let missing = "/nonexistent/digits.csv.gz"
        XCTAssertThrowsError(try DigitsExperiment.loadData(from: missing)) { error in
            XCTAssertEqual("\(error)", "cannot read \(missing): No such file or directory")
        }
        let (pixels, labels) = try parseLabelledCSV("1,2,3\n", source: "small.csv")
        XCTAssertThrowsError(try DigitsExperiment.images(pixels: pixels, labels: labels,
                                                         source: "small.csv")) { error in
            XCTAssertEqual(error as? DigitsDataError, .notImages(source: "small.csv", columns: 3))
            XCTAssertEqual("\(error)", "the rows of small.csv have 3 fields, not 64 pixels and a label")
        }
        XCTAssertThrowsError(try DigitsExperiment.images(pixels: Tensor(shape: [2, 64]),
                                                         labels: [1, 10], source: "d.csv")) { error in
            XCTAssertEqual("\(error)", "the label 10 in row 2 of d.csv is not a digit 0...9")
        }
    }
}
