import XCTest
@testable import DeepLearning

final class AdamTests: XCTestCase {
    /// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay. With a
    /// constant gradient the bias-corrected moments stay at m̂ = g, v̂ = g², so each step
    /// moves p by lr·|g|/(|g| + 1e-8) ≈ 1e-3 against the gradient:
    ///   p = 1, g = 0.5:
    ///     step 1: m = 0.05,   v = 0.00025;       m̂ = 0.5, v̂ = 0.25;
    ///             p = 1 − 1e-3·0.5/0.50000001 = 0.99900000002
    ///     step 2: m = 0.095,  v = 0.00049975;    m̂ = 0.095/0.19 = 0.5, v̂ = 0.00049975/0.001999
    ///             = 0.25; p = 0.99800000004
    ///     step 3: m = 0.1355, v = 0.00074925025; m̂ = 0.5, v̂ = 0.25; p = 0.99700000006
    ///   p = −2, g = −1:
    ///     step 1: m = −0.1,   v = 0.001;          m̂ = −1, v̂ = 1; p = −1.99900000001
    ///     step 2: m = −0.19,  v = 0.001999;       p = −1.99800000002
    ///     step 3: m = −0.271, v = 0.002997001;    p = −1.99700000003
    /// (Without bias correction step 1 would move p by 1e-3·0.05/0.0158 ≈ 3.2e-3.)
    func testDefaults() {
        assertSteps([[0.99900000002, -1.99900000001], [0.99800000004, -1.99800000002],
                     [0.99700000006, -1.99700000003]], tolerance: 2e-7) {
            Adam(parameters: $0)
        }
    }

    /// lr 0.1, betas (0.8, 0.9), eps 0.01 (large enough to show), weight decay 0.1 added to
    /// the gradient (L2): g = grad + 0.1·p, m̂ = m/(1 − 0.8ᵗ), v̂ = v/(1 − 0.9ᵗ),
    /// p −= 0.1·m̂/(√v̂ + 0.01):
    ///   p = 1, grad 0.5:
    ///     step 1: g = 0.6;          m = 0.12,          v = 0.036;         m̂ = 0.6,          v̂ = 0.36
    ///             p = 1 − 0.06/0.61 = 0.9016393443
    ///     step 2: g = 0.5901639344; m = 0.2140327869,  v = 0.06722934695; m̂ = 0.5945355191, v̂ = 0.3538386682
    ///             p = 0.803343567
    ///     step 3: g = 0.5803343567; m = 0.2872931008,  v = 0.09418520881; m̂ = 0.5887153706, v̂ = 0.347546896
    ///             p = 0.7051475954
    ///   p = −2, grad −1:
    ///     step 1: g = −1.2;         m = −0.24,         v = 0.144;         m̂ = −1.2,         v̂ = 1.44
    ///             p = −2 + 0.12/1.21 = −1.900826446
    ///     step 2: g = −1.190082645; m = −0.4300165289, v = 0.2712296701;  m̂ = −1.194490358, v̂ = 1.427524579
    ///             p = −1.801681387
    ///     step 3: g = −1.180168139; m = −0.5800468509, v = 0.3833863866;  m̂ = −1.188620596, v̂ = 1.414709914
    ///             p = −1.702581424
    func testWeightDecayIsAddedToTheGradient() {
        assertSteps([[0.9016393443, -1.900826446], [0.803343567, -1.801681387],
                     [0.7051475954, -1.702581424]]) {
            Adam(parameters: $0, learningRate: 0.1, betas: (0.8, 0.9), eps: 0.01, weightDecay: 0.1)
        }
    }

    func testAParameterListedTwiceStops() throws {
        try assertStops(withMessage: "Adam: parameter 1 (shape [3]) is parameter 0 again; list each parameter once, else it counts twice") {
            let bias = Linear(2, 3).bias
            _ = Adam(parameters: [bias, bias])
        }
    }

    func testNegativeLearningRateStops() throws {
        try assertStops(withMessage: "Adam: learning rate -0.001 must not be negative") {
            _ = Adam(parameters: [], learningRate: -1e-3)
        }
    }

    func testNaNLearningRateStopsNamingNaN() throws {
        try assertStops(withMessage: "Adam: learning rate is NaN; it must be a number of at least 0") {
            _ = Adam(parameters: [], learningRate: .nan)
        }
    }

    func testSettingANaNLearningRateStops() throws {
        try assertStops(withMessage: "Adam: learning rate is NaN; it must be a number of at least 0") {
            Adam(parameters: []).learningRate = .nan
        }
    }

    func testInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "Adam: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            _ = Adam(parameters: [], learningRate: .infinity)
        }
    }

    func testSettingAnInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "Adam: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            Adam(parameters: []).learningRate = .infinity
        }
    }

    func testFirstBetaOfOneStops() throws {
        try assertStops(withMessage: "Adam: betas.0 1.0 must be in [0, 1)") {
            _ = Adam(parameters: [], betas: (1, 0.999))
        }
    }

    func testNegativeSecondBetaStops() throws {
        try assertStops(withMessage: "Adam: betas.1 -0.5 must be in [0, 1)") {
            _ = Adam(parameters: [], betas: (0.9, -0.5))
        }
    }

    func testNaNBetaStops() throws {
        try assertStops(withMessage: "Adam: betas.0 is NaN; it must be in [0, 1)") {
            _ = Adam(parameters: [], betas: (.nan, 0.999))
        }
    }

    func testNegativeEpsStops() throws {
        try assertStops(withMessage: "Adam: eps -1e-08 must not be negative") {
            _ = Adam(parameters: [], eps: -1e-8)
        }
    }

    /// PyTorch accepts an infinite eps; with it no parameter would change.
    func testInfiniteEpsStops() throws {
        try assertStops(withMessage: "Adam: eps inf must be finite: an infinite denominator makes every step 0 (or NaN), so no parameter would change") {
            _ = Adam(parameters: [], eps: .infinity)
        }
    }

    func testInfiniteWeightDecayStops() throws {
        try assertStops(withMessage: "Adam: weight decay inf must be finite: every parameter would turn infinite or NaN at its first step") {
            _ = Adam(parameters: [], weightDecay: .infinity)
        }
    }

    func testNegativeWeightDecayStops() throws {
        try assertStops(withMessage: "Adam: weight decay -0.1 must not be negative") {
            _ = Adam(parameters: [], weightDecay: -0.1)
        }
    }
}
