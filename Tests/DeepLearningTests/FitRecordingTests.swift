// `fit` trains with gradient recording on, wherever it is called; CustomLoss called by hand
// where recording is off names that as the cause.
import XCTest
@testable import DeepLearning

final class FitRecordingTests: XCTestCase {
    /// The spiral network's losses and parameters after `fit` with the default softmax
    /// cross-entropy or the same as a `CustomLoss`, through the fused passes or the graph.
    private static func train(fused: Bool, customLoss: Bool) throws -> [[Float]] {
        let (x, labels) = spiral(pointsPerClass: 20, classes: 3, seed: 1)
        let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
        model.allowsFusedPath = fused
        model.initializeParameters(seed: 2)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        let losses = customLoss
            ? try model.fit(x, labels: labels, loss: CustomLoss { try crossEntropy($0, labels: $1) },
                            optimizer: optimizer, epochs: 3, batchSize: 20)
            : try model.fit(x, labels: labels, optimizer: optimizer, epochs: 3, batchSize: 20)
        return [losses] + model.parameters.map(\.values)
    }

    private static let cases = [(fused: true, customLoss: false), (true, true), (false, false),
                                (false, true)]

    /// Inside `withoutGradientRecording`, `fit` trains as outside, bit for bit, on both paths
    /// and with a built-in or a custom loss.
    func testFitInsideWithoutGradientRecordingTrainsAsOutside() throws {
        for (fused, customLoss) in Self.cases {
            let expected = try Self.train(fused: fused, customLoss: customLoss)
            let got = try withoutGradientRecording { try Self.train(fused: fused, customLoss: customLoss) }
            XCTAssertEqual(got, expected, "fused \(fused), custom loss \(customLoss)")
        }
    }

    /// A task started inside `withoutGradientRecording` inherits that setting; `fit` in it
    /// trains as elsewhere.
    func testFitInATaskStartedWithoutRecordingTrainsAsOutside() async throws {
        for (fused, customLoss) in Self.cases {
            let expected = try Self.train(fused: fused, customLoss: customLoss)
            let task = withoutGradientRecording {
                Task { try Self.train(fused: fused, customLoss: customLoss) }
            }
            let got = try await task.value
            XCTAssertEqual(got, expected, "fused \(fused), custom loss \(customLoss)")
        }
    }

    /// `fit` leaves the caller's setting as it was.
    func testFitLeavesRecordingOffForItsCaller() throws {
        try withoutGradientRecording {
            _ = try Self.train(fused: true, customLoss: true)
            XCTAssertFalse(GradientRecording.isEnabled)
        }
    }

    /// A CustomLoss's forward pass called by hand where recording is off stops and says so.
    func testCustomLossWithoutRecordingStopsNamingIt() throws {
        try assertStops(withMessage: "CustomLoss: gradient recording is off") {
            let loss = CustomLoss { (output: Tensor, targets: Tensor) in meanSquaredError(output, targets) }
            let output = Tensor(shape: [2, 1], values: [1, 2])
            _ = withoutGradientRecording { try? loss.forward(output, targets: Tensor(shape: [2, 1])) }
        }
    }
}
