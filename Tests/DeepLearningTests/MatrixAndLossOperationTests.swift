import Foundation
import XCTest
@testable import DeepLearning

/// matmul (2-D with every transpose, batched, a matrix shared by the batch), softmax,
/// log-softmax and the losses: values against plain references, gradients against finite
/// differences, bad labels and shapes.
final class MatrixAndLossOperationTests: XCTestCase {
    private var generator = SeededGenerator(seed: 13)

    private func input(_ shape: [Int], _ range: Range<Float> = -1..<1) -> Tensor {
        differentiableTensor(shape, in: range, using: &generator)
    }

    func testMatmulValues() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], values: [1, 0, 0, 1, 1, 1])
        XCTAssertEqual(matmul(a, b).values, [4, 5, 10, 11])
        XCTAssertEqual(matmul(a, a, transposingB: true).values, [14, 32, 32, 77])
        XCTAssertEqual(matmul(b, b, transposingA: true).values, [2, 1, 1, 2])
        XCTAssertEqual(matmul(a, b, transposingA: true, transposingB: true).shape, [3, 3])
        let batch = Tensor(shape: [2, 2, 3], values: [1, 2, 3, 4, 5, 6, 0, 0, 1, 1, 0, 0])
        XCTAssertEqual(matmul(batch, b).values, [4, 5, 10, 11, 1, 1, 1, 0])
    }

    func testMatmulGradients() throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = input(ta ? [4, 3] : [3, 4]), b = input(tb ? [5, 4] : [4, 5])
            try gradientCheck(at: [a, b]) { matmul($0[0], $0[1], transposingA: ta, transposingB: tb) }
            let batchA = input(ta ? [2, 4, 3] : [2, 3, 4])
            try gradientCheck(at: [batchA, input(tb ? [2, 5, 4] : [2, 4, 5])]) {
                matmul($0[0], $0[1], transposingA: ta, transposingB: tb)
            }
            try gradientCheck(at: [batchA, b]) { matmul($0[0], $0[1], transposingA: ta, transposingB: tb) }
        }
        // A transposed copy as input, and a matrix used on both sides.
        try gradientCheck(at: [input([3, 4])]) { matmul($0[0].transposed(), $0[0]) }
        try gradientCheck(at: [input([3, 3])]) { matmul($0[0], $0[0]) }
    }

    /// A batch of no matrices times a matrix shared by the batch (B, transposed or not): its
    /// gradient is the empty sum, zeros, also where the product overwrites stale values (a
    /// leaf's gradient after `zeroGradient()`, an operation's gradient buffer reused from an
    /// earlier pass).
    func testEmptyBatchGivesTheSharedMatrixZeroGradients() {
        for transposingB in [false, true] {
            let w = Tensor(shape: [3, 3], values: (1...9).map(Float.init), requiresGradient: true)
            for throughAnOperation in [false, true] {
                (w * 3).sum().backward() // gradient buffers of 3s and of 1s, then reused
                w.zeroGradient()
                let b = throughAnOperation ? w * 2 : w
                matmul(Tensor(shape: [0, 4, 3]), b, transposingB: transposingB).sum().backward()
                XCTAssertEqual(w.gradients, [Float](repeating: 0, count: 9),
                               "transposing B: \(transposingB), through an operation: \(throughAnOperation)")
            }
        }
    }

    func testASmallNetworkWithBroadcastBias() throws {
        try gradientCheck(at: [input([5, 2]), input([2, 4]), input([4]), input([4, 3]), input([3])]) { p in
            matmul(tanh(matmul(p[0], p[1]) + p[2]), p[3]) + p[4]
        }
    }

    func testSoftmaxAndLogSoftmax() throws {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 1000, 1000, 1000])
        let s = softmax(x).values
        let e = [1.0, 2, 3].map { Foundation.exp($0) }, total = e.reduce(0, +)
        for j in 0..<3 {
            XCTAssertEqual(s[j], Float(e[j] / total), accuracy: 1e-6)
            XCTAssertEqual(s[3 + j], 1.0 / 3, accuracy: 1e-6)
        }
        let l = logSoftmax(x).values
        XCTAssertEqual(l[0], Float(1 - Foundation.log(total)), accuracy: 1e-5)
        XCTAssertEqual(l[3], -Float(Foundation.log(3.0)), accuracy: 1e-5)
        try gradientCheck(at: [input([4, 5])]) { softmax($0[0]) }
        try gradientCheck(at: [input([2, 3, 4])]) { logSoftmax($0[0]) }
        let shared = input([3, 4])
        try gradientCheck(at: [shared]) { softmax($0[0]) * $0[0] } // accumulates into a used input
    }

    func testCrossEntropy() throws {
        let logits = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, 0])
        let loss = try crossEntropy(logits, labels: [2, 0])
        let expected = (-(3 - Foundation.log(Foundation.exp(1.0) + Foundation.exp(2) + Foundation.exp(3)))
            + Foundation.log(3.0)) / 2
        XCTAssertEqual(loss.scalar, Float(expected), accuracy: 1e-6)
        XCTAssertFalse(loss.requiresGradient)
        try gradientCheck(at: [input([5, 4], -3..<3)]) { try! crossEntropy($0[0] * 2, labels: [0, 3, 1, 1, 2]) }
        // The same as log-softmax picked at the labels.
        let z = input([3, 4])
        let picked = try crossEntropy(z, labels: [1, 0, 3])
        let reference = -(logSoftmax(z) * Tensor(shape: [3, 4], values: [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1])).sum() / 3
        XCTAssertEqual(picked.scalar, reference.scalar, accuracy: 1e-6)
    }

    func testCrossEntropyThrowsOnBadLabels() {
        let logits = Tensor(shape: [2, 3])
        assertThrows(.labelOutOfRange(label: 3, index: 1, classes: 3),
                     message: "label 3 at index 1 is outside the classes 0..<3") {
            try crossEntropy(logits, labels: [0, 3])
        }
        assertThrows(.countMismatch(samples: 2, labels: 1),
                     message: "the inputs have 2 samples but there are 1 labels") {
            try crossEntropy(logits, labels: [0])
        }
    }

    func testMeanSquaredErrorAndBinaryCrossEntropy() throws {
        let p = Tensor(shape: [2], values: [1, 3]), t = Tensor(shape: [2], values: [0, 1])
        XCTAssertEqual(meanSquaredError(p, t).scalar, 2.5)
        let z = Tensor(shape: [3], values: [0, 2, -30]), targets = Tensor(shape: [3], values: [1, 0, 0.5])
        let bce = binaryCrossEntropy(logits: z, targets: targets).scalar
        func crossEntropy(_ z: Double, _ t: Double) -> Double {
            let p: Double = 1 / (1 + Foundation.exp(-z))
            return -(t * Foundation.log(p) + (1 - t) * Foundation.log(1 - p))
        }
        let reference = (crossEntropy(0, 1) + crossEntropy(2, 0) + crossEntropy(-30, 0.5)) / 3
        XCTAssertEqual(bce, Float(reference), accuracy: 1e-5)
        try gradientCheck(at: [input([3, 4]), input([3, 4])]) { meanSquaredError($0[0], $0[1]) }
        try gradientCheck(at: [input([3, 4], -3..<3), input([3, 4], 0..<1)]) {
            binaryCrossEntropy(logits: $0[0], targets: $0[1])
        }
        let fixedTargets = randomTensor([5], in: 0..<1, using: &generator)
        try gradientCheck(at: [input([5]), fixedTargets]) { binaryCrossEntropy(logits: $0[0], targets: $0[1]) }
        try gradientCheck(at: [fixedTargets, input([5])]) { binaryCrossEntropy(logits: $0[0], targets: $0[1]) }
    }

    func testMatmulShapesThatDoNotFitStop() throws {
        try assertStops(withMessage: "matmul: shapes [2, 3] and [2, 3] do not fit") {
            _ = matmul(Tensor(shape: [2, 3]), Tensor(shape: [2, 3]))
        }
    }
}
