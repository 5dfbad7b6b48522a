import XCTest
@testable import DeepLearning

final class RMSPropTests: XCTestCase {
    /// PyTorch's defaults: lr 1e-2, alpha 0.99, eps 1e-8, no momentum, not centered:
    /// v = 0.99·v + 0.01·g², p −= 0.01·g/(√v + 1e-8):
    ///   p = 1, g = 0.5:
    ///     step 1: v = 0.0025;     √v + eps = 0.05000001;   p = 1 − 0.005/0.05000001 = 0.90000002
    ///     step 2: v = 0.004975;   √v + eps = 0.0705336899; p = 0.8291119095
    ///     step 3: v = 0.00742525; √v + eps = 0.0861699003; p = 0.7710870078
    ///   p = −2, g = −1:
    ///     step 1: v = 0.01;       √v + eps = 0.10000001;   p = −1.90000001
    ///     step 2: v = 0.0199;     √v + eps = 0.1410673698; p = −1.829111895
    ///     step 3: v = 0.029701;   √v + eps = 0.1723397907; p = −1.771086989
    func testDefaults() {
        assertSteps([[0.90000002, -1.90000001], [0.8291119095, -1.829111895],
                     [0.7710870078, -1.771086989]]) {
            RMSProp(parameters: $0)
        }
    }

    /// Centered, lr 0.1, alpha 0.9: ḡ = 0.9·ḡ + 0.1·g, denominator √(v − ḡ²) + eps:
    ///   p = 1, g = 0.5:
    ///     step 1: v = 0.025,   ḡ = 0.05,   √(0.025 − 0.0025) + eps = 0.15000001;
    ///             p = 1 − 0.05/0.15000001 = 0.6666666889
    ///     step 2: v = 0.0475,  ḡ = 0.095,  √(0.0475 − 0.009025) + eps = 0.1961504625;
    ///             p = 0.4117603309
    ///     step 3: v = 0.06775, ḡ = 0.1355, denominator 0.222238058;                   p = 0.1867763635
    ///   p = −2, g = −1:
    ///     step 1: v = 0.1,     ḡ = −0.1,   denominator 0.30000001;                    p = −1.666666678
    ///     step 2: v = 0.19,    ḡ = −0.19,  denominator 0.3923009149;                  p = −1.411760313
    ///     step 3: v = 0.271,   ḡ = −0.271, denominator 0.4444761061;                  p = −1.186776341
    func testCentered() {
        assertSteps([[0.6666666889, -1.666666678], [0.4117603309, -1.411760313],
                     [0.1867763635, -1.186776341]]) {
            RMSProp(parameters: $0, learningRate: 0.1, alpha: 0.9, centered: true)
        }
    }

    /// Momentum 0.5, lr 0.1, alpha 0.9: b = 0.5·b + g/(√v + eps), p −= 0.1·b:
    ///   p = 1, g = 0.5:
    ///     step 1: v = 0.025,   √v + eps = 0.158113893;  b = 3.16227746;  p = 0.683772254
    ///     step 2: v = 0.0475,  √v + eps = 0.2179449572; b = 1.58113873 + 2.294157233 = 3.875295964; p = 0.2962426576
    ///     step 3: v = 0.06775, √v + eps = 0.2602883117; b = 3.858594784; p = −0.08961682076
    ///   p = −2, g = −1:
    ///     step 1: v = 0.1,     √v + eps = 0.316227776;  b = −3.16227756; p = −1.683772244
    ///     step 2: v = 0.19,    √v + eps = 0.4358899044; b = −3.875296066; p = −1.296242637
    ///     step 3: v = 0.271,   √v + eps = 0.5205766134; b = −3.858594872; p = −0.9103831502
    func testMomentum() {
        assertSteps([[0.683772254, -1.683772244], [0.2962426576, -1.296242637],
                     [-0.08961682076, -0.9103831502]]) {
            RMSProp(parameters: $0, learningRate: 0.1, alpha: 0.9, momentum: 0.5)
        }
    }

    /// All at once: lr 0.1, alpha 0.9, eps 0.01, weight decay 0.1 (g = grad + 0.1·p),
    /// momentum 0.5, centered:
    ///   p = 1, grad 0.5:
    ///     step 1: g = 0.6;          v = 0.036,         ḡ = 0.06;          denominator 0.19
    ///             b = 3.157894737;  p = 0.6842105263
    ///     step 2: g = 0.5684210526; v = 0.06471024931, ḡ = 0.1108421053;  denominator 0.238963484
    ///             b = 3.957641565;  p = 0.2884463698
    ///     step 3: g = 0.528844637;  v = 0.08620688938, ḡ = 0.1526423584;  denominator 0.2608130774
    ///             b = 4.006497624;  p = −0.1122033926
    ///   p = −2, grad −1:
    ///     step 1: g = −1.2;         v = 0.144,         ḡ = −0.12;         denominator 0.37
    ///             b = −3.243243243; p = −1.675675676
    ///     step 2: g = −1.167567568; v = 0.2659214025,  ḡ = −0.2247567568; denominator 0.4741183069
    ///             b = −4.084229689; p = −1.267252707
    ///     step 3: g = −1.126725271; v = 0.3662802458,  ḡ = −0.3149536081; denominator 0.526802158
    ///             b = −4.180916392; p = −0.8491610675
    func testCenteredWithMomentumAndWeightDecay() {
        assertSteps([[0.6842105263, -1.675675676], [0.2884463698, -1.267252707],
                     [-0.1122033926, -0.8491610675]]) {
            RMSProp(parameters: $0, learningRate: 0.1, alpha: 0.9, eps: 0.01, weightDecay: 0.1,
                    momentum: 0.5, centered: true)
        }
    }

    func testAParameterListedTwiceStops() throws {
        try assertStops(withMessage: "RMSProp: parameter 1 (shape [2, 3]) is parameter 0 again; list each parameter once, else it counts twice") {
            let weight = Linear(2, 3).weight
            _ = RMSProp(parameters: [weight, weight])
        }
    }

    func testNegativeLearningRateStops() throws {
        try assertStops(withMessage: "RMSProp: learning rate -0.01 must not be negative") {
            _ = RMSProp(parameters: [], learningRate: -0.01)
        }
    }

    func testNegativeAlphaStops() throws {
        try assertStops(withMessage: "RMSProp: alpha -0.99 must be in [0, 1]: outside it the running average of g² can turn negative") {
            _ = RMSProp(parameters: [], alpha: -0.99)
        }
    }

    /// NaN fails every comparison, so it is refused by name rather than by range.
    func testNaNAlphaStops() throws {
        try assertStops(withMessage: "RMSProp: alpha is NaN; it must be in [0, 1]") {
            _ = RMSProp(parameters: [], alpha: .nan)
        }
    }

    func testAlphaAboveOneStops() throws {
        try assertStops(withMessage: "RMSProp: alpha 1.5 must be in [0, 1]: outside it the running average of g² can turn negative") {
            _ = RMSProp(parameters: [], alpha: 1.5)
        }
    }

    func testSettingANegativeLearningRateStops() throws {
        try assertStops(withMessage: "RMSProp: learning rate -0.01 must not be negative") {
            RMSProp(parameters: []).learningRate = -0.01
        }
    }

    func testInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "RMSProp: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            _ = RMSProp(parameters: [], learningRate: .infinity)
        }
    }

    func testSettingAnInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "RMSProp: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            RMSProp(parameters: []).learningRate = .infinity
        }
    }

    func testNegativeEpsStops() throws {
        try assertStops(withMessage: "RMSProp: eps -1e-08 must not be negative") {
            _ = RMSProp(parameters: [], eps: -1e-8)
        }
    }

    func testNegativeMomentumStops() throws {
        try assertStops(withMessage: "RMSProp: momentum -0.5 must not be negative") {
            _ = RMSProp(parameters: [], momentum: -0.5)
        }
    }

    /// PyTorch accepts an infinite eps and momentum; no training can use them.
    func testInfiniteEpsStops() throws {
        try assertStops(withMessage: "RMSProp: eps inf must be finite: an infinite denominator makes every step 0 (or NaN), so no parameter would change") {
            _ = RMSProp(parameters: [], eps: .infinity)
        }
    }

    func testInfiniteMomentumStops() throws {
        try assertStops(withMessage: "RMSProp: momentum inf must be finite: the momentum buffers would turn infinite or NaN at the second step") {
            _ = RMSProp(parameters: [], momentum: .infinity)
        }
    }

    func testInfiniteWeightDecayStops() throws {
        try assertStops(withMessage: "RMSProp: weight decay inf must be finite: every parameter would turn infinite or NaN at its first step") {
            _ = RMSProp(parameters: [], weightDecay: .infinity)
        }
    }

    func testNegativeWeightDecayStops() throws {
        try assertStops(withMessage: "RMSProp: weight decay -0.1 must not be negative") {
            _ = RMSProp(parameters: [], weightDecay: -0.1)
        }
    }
}
