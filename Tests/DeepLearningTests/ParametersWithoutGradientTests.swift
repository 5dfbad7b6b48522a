import XCTest
@testable import DeepLearning

/// PyTorch's optimizers leave out of a step every parameter whose `.grad` is None (after
/// `zero_grad(set_to_none=True)`, no backward pass reached it): its value, buffers and step
/// count stay as they are, and its first step is the first it takes. The tables are the
/// hand-worked ones of the optimizer tests (SGDTests, AdamTests, AdamWTests, RMSPropTests):
/// parameter [1, −2], gradient [0.5, −1] in each of the parameter's own steps.
final class ParametersWithoutGradientTests: XCTestCase {
    /// Each optimizer and its table: the parameter after its first and second steps.
    private let cases: [(name: String, steps: [[Double]], make: ([Tensor]) -> any Optimizer)] = [
        ("SGD, momentum and weight decay", [[0.949, -1.898], [0.852151, -1.704302]], {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        }),
        ("SGD, dampening (its first step undampened)", [[0.95, -1.9], [0.88, -1.76]], {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.5)
        }),
        ("SGD, Nesterov and weight decay", [[0.9031, -1.8062], [0.76507411, -1.53014822]], {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01,
                nesterov: true)
        }),
        ("Adam", [[0.9016393443, -1.900826446], [0.803343567, -1.801681387]], {
            Adam(parameters: $0, learningRate: 0.1, betas: (0.8, 0.9), eps: 0.01,
                 weightDecay: 0.1)
        }),
        ("AdamW", [[0.890000002, -1.880000001], [0.781100004, -1.761200002]], {
            AdamW(parameters: $0, learningRate: 0.1, betas: (0.8, 0.9), weightDecay: 0.1)
        }),
        ("RMSProp, momentum", [[0.683772254, -1.683772244], [0.2962426576, -1.296242637]], {
            RMSProp(parameters: $0, learningRate: 0.1, alpha: 0.9, momentum: 0.5)
        }),
        ("RMSProp, centered, momentum and weight decay",
         [[0.6842105263, -1.675675676], [0.2884463698, -1.267252707]], {
            RMSProp(parameters: $0, learningRate: 0.1, alpha: 0.9, eps: 0.01, weightDecay: 0.1,
                    momentum: 0.5, centered: true)
        }),
    ]

    /// Four steps: `early` has a gradient in steps 1 and 2, `late` in steps 3 and 4, `never`
    /// in none. `early` ends after its two steps, `late` takes them as a first and second
    /// step (its own step count and first step), `never` keeps [1, −2].
    func testParametersStepOnlyWhenTheyHaveAGradient() {
        for (name, table, make) in cases {
            let early = Tensor(shape: [2], values: [1, -2])
            let late = Tensor(shape: [2], values: [1, -2])
            let never = Tensor(shape: [2], values: [1, -2])
            let optimizer = make([early, late, never])
            for step in 1...4 {
                optimizer.zeroGrad()
                for parameter in step <= 2 ? [early] : [late] {
                    parameter.withUnsafeMutableGradientBufferPointer { $0[0] = 0.5; $0[1] = -1 }
                }
                // Reading a gradient gives none.
                XCTAssertEqual(never.gradients, [0, 0], name)
                optimizer.step()
                if step == 3 { assertClose(late.values, table[0], tolerance: 1e-6, "\(name): late, step 3") }
            }
            assertClose(early.values, table[1], tolerance: 1e-6, "\(name): early")
            assertClose(late.values, table[1], tolerance: 1e-6, "\(name): late")
            XCTAssertEqual(never.values, [1, -2], name)
        }
    }

    /// The reviewer's case against PyTorch 2.15, through backward passes: `used` in every
    /// step's loss, `sometimes` in those of steps 1 and 2 of 4, `never` in none. PyTorch keeps
    /// `never` at [1, 2] (SGD with momentum and weight decay, any optimizer) and `sometimes`
    /// where step 2 left it; Adam at lr 0.1 leaves it at [0.800412, 1.800166]: step 1 moves
    /// each element by 0.1·g/(|g| + 1e-8) to [0.9, 1.9], step 2 (g = 2p = [1.8, 3.8]) has
    /// m̂ = [1.894737, 3.894737], √v̂ = [1.902580, 3.901232].
    func testParametersNoBackwardPassReachesKeepTheirValues() {
        let optimizers: [([Tensor]) -> any Optimizer] = [
            { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.1) },
            { Adam(parameters: $0, learningRate: 0.1) },
            { AdamW(parameters: $0, learningRate: 0.1, weightDecay: 0.1) },
            { RMSProp(parameters: $0, learningRate: 0.1, momentum: 0.9) },
        ]
        for make in optimizers {
            let used = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            let sometimes = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            let never = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            let optimizer = make([used, sometimes, never])
            var afterStep2: [Float] = []
            for step in 1...4 {
                optimizer.zeroGrad()
                let loss = step <= 2 ? (used * used).sum() + (sometimes * sometimes).sum()
                                     : (used * used).sum()
                loss.backward()
                optimizer.step()
                if step == 2 { afterStep2 = sometimes.values }
            }
            let name = "\(type(of: optimizer))"
            XCTAssertEqual(never.values, [1, 2], name)
            XCTAssertEqual(sometimes.values, afterStep2, name)
            XCTAssertNotEqual(used.values, afterStep2, name)
            if optimizer is Adam {
                assertClose(sometimes.values, [0.800412, 1.800166], tolerance: 2e-6, name)
            }
        }
    }
}
