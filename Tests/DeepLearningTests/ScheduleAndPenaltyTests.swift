import XCTest
@testable import DeepLearning

final class LearningRateScheduleTests: XCTestCase {
    /// StepLR(step_size=2, gamma=0.5) from 0.1: 0.1, 0.1, 0.05, 0.05, 0.025, 0.025.
    func testStepDecay() {
        let optimizer = SGD(parameters: [Tensor(shape: [1])], learningRate: 0.1)
        let schedule = StepDecay(optimizer: optimizer, stepSize: 2, gamma: 0.5)
        var rates = [optimizer.learningRate]
        for _ in 0..<5 {
            schedule.step()
            rates.append(optimizer.learningRate)
        }
        assertClose(rates, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025], tolerance: 1e-7, "rates")
    }

    /// CosineAnnealingLR(T_max=4, eta_min=0.01) from 0.1: 0.01 + 0.09·(1 + cos(π·e/4))/2:
    /// 0.1, 0.0868198, 0.055, 0.0231802, 0.01.
    func testCosineAnnealingOnAdam() {
        let optimizer = Adam(parameters: [Tensor(shape: [1])], learningRate: 0.1)
        let schedule = CosineAnnealing(optimizer: optimizer, epochs: 4, minimum: 0.01)
        var rates = [optimizer.learningRate]
        for _ in 0..<4 {
            schedule.step()
            rates.append(optimizer.learningRate)
        }
        assertClose(rates, [0.1, 0.0868198, 0.055, 0.0231802, 0.01], tolerance: 1e-6, "rates")
    }

    /// A minimum below 0 would give negative rates (which a checkpoint then cannot restore),
    /// a NaN or infinite one rates that are NaN.
    func testStepDecayStopsOnANaNGammaNamingNaN() throws {
        try assertStops(withMessage: "StepDecay: gamma is NaN; it must be a number of at least 0") {
            _ = StepDecay(optimizer: SGD(parameters: [], learningRate: 0.1), stepSize: 2, gamma: .nan)
        }
    }

    func testStepDecayStopsOnAnInfiniteGamma() throws {
        try assertStops(withMessage: "StepDecay: gamma inf must be finite (the rates would be infinite)") {
            _ = StepDecay(optimizer: SGD(parameters: [], learningRate: 0.1), stepSize: 2,
                          gamma: .infinity)
        }
    }

    /// 0.1 · (1e10)^e overflows a float at epoch 4: the schedule is named, not the optimizer's
    /// setter that would otherwise refuse the infinite rate.
    func testStepDecayStopsNamingItselfWhenItsRateOverflows() throws {
        try assertStops(withMessage: "StepDecay.step: the learning rate for epoch 4 is inf; a schedule's rates must be finite and not negative") {
            let schedule = StepDecay(optimizer: SGD(parameters: [], learningRate: 0.1),
                                     stepSize: 1, gamma: 1e10)
            for _ in 0..<4 { schedule.step() }
        }
    }

    /// A rate before the first epoch would be made up: StepDecay's would grow 1/gamma a step.
    func testStepDecayStopsOnANegativeEpoch() throws {
        try assertStops(withMessage: "StepDecay: epoch -3 must not be negative") {
            let optimizer = SGD(parameters: [], learningRate: 0.1)
            _ = StepDecay(optimizer: optimizer, stepSize: 1).learningRate(atEpoch: -3)
        }
    }

    func testCosineAnnealingStopsOnANegativeEpochSetBeforeAStep() throws {
        try assertStops(withMessage: "CosineAnnealing: epoch -4 must not be negative") {
            let schedule = CosineAnnealing(optimizer: SGD(parameters: [], learningRate: 0.1),
                                           epochs: 10)
            schedule.epoch = -5
            schedule.step()
        }
    }

    func testCosineAnnealingStopsOnANegativeMinimum() throws {
        try assertStops(withMessage: "CosineAnnealing: minimum -0.001 must be finite and not negative") {
            _ = CosineAnnealing(optimizer: SGD(parameters: [], learningRate: 0.1), epochs: 4,
                                minimum: -0.001)
        }
    }

    func testCosineAnnealingStopsOnANaNMinimum() throws {
        try assertStops(withMessage: "CosineAnnealing: minimum nan must be finite and not negative") {
            _ = CosineAnnealing(optimizer: SGD(parameters: [], learningRate: 0.1), epochs: 4,
                                minimum: .nan)
        }
    }

    func testCosineAnnealingStopsOnAnInfiniteMinimum() throws {
        try assertStops(withMessage: "CosineAnnealing: minimum inf must be finite and not negative") {
            _ = CosineAnnealing(optimizer: SGD(parameters: [], learningRate: 0.1), epochs: 4,
                                minimum: .infinity)
        }
    }

    func testScheduleDrivenFromFitsProgress() throws {
        let (inputs, labels) = spiral(pointsPerClass: 10, classes: 3, seed: 1)
        let model = Model { Linear(2, 8); ReLU(); Linear(8, 3) }
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        let schedule = StepDecay(optimizer: optimizer, stepSize: 1, gamma: 0.5)
        try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 3, batchSize: 10) { _ in
            schedule.step()
        }
        XCTAssertEqual(optimizer.learningRate, 0.0125, accuracy: 1e-9)
    }

    /// A schedule made for another optimizer than fit's would set a rate nobody uses.
    func testFitStopsOnAScheduleOfAnotherOptimizer() throws {
        let (inputs, labels) = spiral(pointsPerClass: 10, classes: 3, seed: 1)
        let model = Model { Linear(2, 8); ReLU(); Linear(8, 3) }
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
        let other = Adam(parameters: model.parameters, learningRate: 0.1)
        let schedule = StepDecay(optimizer: other, stepSize: 1)
        try assertStops(withMessage: "Model.fit: the schedule StepDecay sets the learning rate of another optimizer than the SGD given") {
            _ = try? model.fit(inputs, labels: labels, optimizer: optimizer, schedule: schedule,
                               epochs: 1, batchSize: 10)
        }
    }
}

final class PenaltyTests: XCTestCase {
    /// A tensor listed twice would be penalized twice.
    func testPenaltyStopsOnAParameterListedTwice() throws {
        try assertStops(withMessage: "Penalty: parameter 1 (shape [3]) is parameter 0 again; list each parameter once, else it counts twice") {
            let bias = Linear(2, 3).bias
            _ = Penalty(parameters: [bias, bias], l2: 0.1)
        }
    }

    func testPenaltyStopsOnANaNCoefficientNamingIt() throws {
        try assertStops(withMessage: "Penalty: l1 is NaN; it must be a number of at least 0") {
            _ = Penalty(parameters: [], l1: .nan)
        }
    }

    func testPenaltyStopsOnANegativeCoefficientNamingIt() throws {
        try assertStops(withMessage: "Penalty: l2 -1.0 must not be negative") {
            _ = Penalty(parameters: [], l2: -1)
        }
    }

    /// p = [0.5, −2, 0], l1 0.1, l2 0.01: penalty 0.1·2.5 + 0.01·4.25 = 0.2925; gradients
    /// 0.1 + 0.01 = 0.11, −0.1 − 0.04 = −0.14, 0 (sign 0 = 0), added to the existing ones.
    func testPenaltyByHand() {
        let parameter = Tensor(shape: [3], values: [0.5, -2, 0])
        parameter.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 1) }
        let value = Penalty(parameters: [parameter], l1: 0.1, l2: 0.01).apply()
        XCTAssertEqual(value, 0.2925, accuracy: 1e-7)
        assertClose(parameter.gradients, [1.11, 0.86, 1], tolerance: 1e-7, "gradients")
    }

    /// Training with an L2 penalty ends with smaller weights, and reports the loss with it.
    func testFitWithAnL2Penalty() throws {
        let (inputs, labels) = spiral(pointsPerClass: 20, classes: 3, seed: 2)
        func train(_ l2: Float) throws -> (history: [Float], norm: Float) {
            let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
            model.initializeParameters(seed: 3)
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.05)
            let weights = model.layers.compactMap { ($0 as? Linear)?.weight }
            let history = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 20,
                                        batchSize: 10,
                                        penalties: [Penalty(parameters: weights, l2: l2)])
            return (history, weights.flatMap(\.values).reduce(0) { $0 + $1 * $1 })
        }
        let (plain, penalized) = (try train(0), try train(0.05))
        XCTAssertLessThan(penalized.norm, plain.norm)
        XCTAssertGreaterThan(penalized.history[0], plain.history[0], "the loss includes the penalty")
    }
}
