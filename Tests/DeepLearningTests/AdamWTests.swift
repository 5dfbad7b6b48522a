import XCTest
@testable import DeepLearning

final class AdamWTests: XCTestCase {
    /// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2,
    /// decoupled: p ·= 1 − 1e-5 first, then Adam's step on the raw gradient (m̂ = g, v̂ = g²
    /// as in AdamTests.testDefaults, so the step is ≈ 1e-3 against g):
    ///   p = 1, g = 0.5:
    ///     step 1: p = 1·0.99999 = 0.99999;                 p = 0.99999 − 0.00099999998 = 0.99899000002
    ///     step 2: p = 0.99899000002·0.99999 = 0.99898001012; p = 0.99798001014
    ///     step 3: p = 0.99797003034;                        p = 0.99697003036
    ///   p = −2, g = −1:
    ///     step 1: p = −1.99998;                              p = −1.99898000001
    ///     step 2: p = −1.99896001021;                        p = −1.99796001022
    ///     step 3: p = −1.99794003062;                        p = −1.99694003063
    func testDefaults() {
        assertSteps([[0.99899000002, -1.99898000001], [0.99798001014, -1.99796001022],
                     [0.99697003036, -1.99694003063]], tolerance: 2e-7) {
            AdamW(parameters: $0)
        }
    }

    /// lr 0.1, betas (0.8, 0.9), weight decay 0.1 decoupled: p ·= 0.99, then the moments of
    /// the raw gradient give m̂ = g, v̂ = g² at every step, so p −= 0.1·g/(|g| + 1e-8):
    ///   p = 1, g = 0.5 (m = 0.1, 0.18, 0.244; v = 0.025, 0.0475, 0.06775):
    ///     step 1: p = 0.99 − 0.099999998 = 0.890000002
    ///     step 2: p = 0.890000002·0.99 − 0.099999998 = 0.781100004
    ///     step 3: p = 0.781100004·0.99 − 0.099999998 = 0.6732890059
    ///   p = −2, g = −1 (m = −0.2, −0.36, −0.488; v = 0.1, 0.19, 0.271):
    ///     step 1: p = −1.98 + 0.099999999 = −1.880000001
    ///     step 2: p = −1.761200002
    ///     step 3: p = −1.643588003
    /// Adam's L2 decay with the same numbers moves p differently (AdamTests).
    func testDecoupledWeightDecay() {
        assertSteps([[0.890000002, -1.880000001], [0.781100004, -1.761200002],
                     [0.6732890059, -1.643588003]]) {
            AdamW(parameters: $0, learningRate: 0.1, betas: (0.8, 0.9), weightDecay: 0.1)
        }
    }

    func testAParameterListedTwiceStops() throws {
        try assertStops(withMessage: "AdamW: parameter 2 (shape [3]) is parameter 1 again; list each parameter once, else it counts twice") {
            let layer = Linear(2, 3)
            _ = AdamW(parameters: layer.parameters + [layer.bias])
        }
    }

    func testSecondBetaOfOneStops() throws {
        try assertStops(withMessage: "AdamW: betas.1 1.0 must be in [0, 1)") {
            _ = AdamW(parameters: [], betas: (0.9, 1))
        }
    }

    func testSettingANegativeLearningRateStops() throws {
        try assertStops(withMessage: "AdamW: learning rate -0.001 must not be negative") {
            AdamW(parameters: []).learningRate = -1e-3
        }
    }

    func testInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "AdamW: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            _ = AdamW(parameters: [], learningRate: .infinity)
        }
    }

    func testInfiniteEpsStops() throws {
        try assertStops(withMessage: "AdamW: eps inf must be finite: an infinite denominator makes every step 0 (or NaN), so no parameter would change") {
            _ = AdamW(parameters: [], eps: .infinity)
        }
    }

    func testInfiniteWeightDecayStops() throws {
        try assertStops(withMessage: "AdamW: weight decay inf must be finite: every parameter would turn infinite or NaN at its first step") {
            _ = AdamW(parameters: [], weightDecay: .infinity)
        }
    }

    func testNegativeWeightDecayStops() throws {
        try assertStops(withMessage: "AdamW: weight decay -0.01 must not be negative") {
            _ = AdamW(parameters: [], weightDecay: -0.01)
        }
    }
}
