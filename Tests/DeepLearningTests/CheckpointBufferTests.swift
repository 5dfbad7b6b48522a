import XCTest
@testable import DeepLearning

/// Optimizer buffers in training checkpoints: a NaN in any of them, or a negative running
/// average of squares, is refused (naming the buffer and the element) and changes nothing;
/// values some training reaches restore, infinities included (a step overflows a buffer
/// from finite gradients).
final class CheckpointBufferTests: CheckpointTestCase {
    /// `saved`'s checkpoint with `buffer`'s element `index` set to `value`, rewritten to
    /// `name`.
    private func rewrite(_ saved: SavedTraining, to name: String, setting buffer: String,
                         at index: Int, to value: Float) throws {
        try rewrite(path("checkpoint"), to: path(name)) { _, tensors in
            guard case let .floats(tensor, _) = tensors[buffer]!.value else {
                return XCTFail("\(buffer) is not F32")
            }
            tensor.value[index] = value
        }
    }

    /// Asserts that `saved`'s checkpoint with `buffer`'s element `index` set to `value` is
    /// refused as `problem`, changing nothing.
    private func assertRefused(_ saved: SavedTraining, setting buffer: String, at index: Int,
                               to value: Float, _ problem: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        try rewrite(saved, to: "edited", setting: buffer, at: index, to: value)
        try assertRefused(path("edited"), model: saved.model, optimizer: saved.optimizer,
                          schedule: saved.schedule, loader: saved.loader, .invalid(problem),
                          file: file, line: line)
    }

    /// Asserts that `saved`'s checkpoint with `buffer`'s element `index` set to `value`
    /// restores.
    private func assertRestores(_ saved: SavedTraining, setting buffer: String, at index: Int,
                                to value: Float,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        try rewrite(saved, to: "edited", setting: buffer, at: index, to: value)
        XCTAssertEqual(try saved.model.restoreCheckpoint(
            from: path("edited"), optimizer: saved.optimizer, schedule: saved.schedule,
            loader: saved.loader), 2, file: file, line: line)
    }

    func testANaNInAMomentumBufferIsRefused() throws {
        let saved = try savedTraining()
        try assertRefused(saved, setting: "optimizer.momentum_buffer.1", at: 3, to: .nan,
                          "its optimizer.momentum_buffer.1 holds NaN at element 3")
        try assertRestores(saved, setting: "optimizer.momentum_buffer.1", at: 3, to: -5)
        try assertRestores(saved, setting: "optimizer.momentum_buffer.2", at: 0, to: -.infinity)
    }

    func testANaNOrANegativeAdamMomentIsRefused() throws {
        for makeOptimizer in [{ Adam(parameters: $0) }, { AdamW(parameters: $0) }]
            as [([Tensor]) -> any Optimizer] {
            let saved = try savedTraining(makeOptimizer: makeOptimizer)
            try assertRefused(saved, setting: "optimizer.exp_avg.0", at: 5, to: .nan,
                              "its optimizer.exp_avg.0 holds NaN at element 5")
            try assertRefused(saved, setting: "optimizer.exp_avg_sq.3", at: 1, to: .nan,
                              "its optimizer.exp_avg_sq.3 holds NaN at element 1")
            try assertRefused(saved, setting: "optimizer.exp_avg_sq.0", at: 2, to: -1e-3,
                              "its optimizer.exp_avg_sq.0 holds -0.001 at element 2, but an average of squares is never negative")
            try assertRestores(saved, setting: "optimizer.exp_avg.0", at: 2, to: -1e-3)
            try assertRestores(saved, setting: "optimizer.exp_avg_sq.0", at: 2, to: .infinity)
        }
    }

    func testANaNOrANegativeRMSPropAverageIsRefused() throws {
        let saved = try savedTraining {
            RMSProp(parameters: $0, momentum: 0.9, centered: true)
        }
        try assertRefused(saved, setting: "optimizer.square_avg.1", at: 0, to: -2,
                          "its optimizer.square_avg.1 holds -2.0 at element 0, but an average of squares is never negative")
        try assertRefused(saved, setting: "optimizer.square_avg.1", at: 1, to: -.infinity,
                          "its optimizer.square_avg.1 holds -inf at element 1, but an average of squares is never negative")
        try assertRefused(saved, setting: "optimizer.grad_avg.2", at: 4, to: .nan,
                          "its optimizer.grad_avg.2 holds NaN at element 4")
        try assertRefused(saved, setting: "optimizer.momentum_buffer.3", at: 1, to: .nan,
                          "its optimizer.momentum_buffer.3 holds NaN at element 1")
        try assertRestores(saved, setting: "optimizer.grad_avg.2", at: 4, to: -2)
    }
}
