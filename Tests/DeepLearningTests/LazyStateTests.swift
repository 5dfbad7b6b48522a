import DeepLearning
import XCTest

// Reflection and `lazy var`: a lazy property counts as state once used; one of a state type
// that is still unused stops with a message instead of leaving its parameters out.

/// A learned shift, stored in a `lazy var` that nothing has used yet.
private final class LazyShift: Layer {
    lazy var shift = Tensor(shape: [2], values: [0, 0], requiresGradient: true)
    func callAsFunction(_ x: Tensor) -> Tensor { x + shift }
}

/// Sub-layers in a `lazy var` that nothing has used yet.
private final class LazyBlocks: Layer {
    lazy var blocks = [Linear(2, 2), Linear(2, 2)]
    func callAsFunction(_ x: Tensor) -> Tensor { blocks[1](blocks[0](x)) }
}

/// A sub-layer behind the existential `any Function`, in a `lazy var` that nothing has used
/// yet.
private final class LazyHead: Layer {
    lazy var head: any Function = Linear(2, 2)
    func callAsFunction(_ x: Tensor) -> Tensor { head(x) }
}

/// A `lazy var` parameter used in `init`, and an unused `lazy var` that holds no state.
private final class UsedLazyShift: Layer {
    lazy var shift = Tensor(shape: [2], values: [0, 0], requiresGradient: true)
    lazy var sizes: [Int]? = [2]
    init() { _ = shift }
    func callAsFunction(_ x: Tensor) -> Tensor { x + shift }
}

final class LazyStateTests: XCTestCase {
    func testAnUnusedLazyParameterStops() throws {
        try assertStops(withMessage: "LazyShift: lazy var shift of type Tensor is not initialized yet") {
            let model = Model { LazyShift() }
            _ = SGD(parameters: model.parameters, learningRate: 0.1)
        }
    }

    func testUnusedLazySublayersStop() throws {
        try assertStops(withMessage: "LazyBlocks: lazy var blocks of type Array<Linear> is not initialized yet") {
            _ = Model { LazyBlocks() }.namedStateTensors
        }
    }

    func testAnUnusedLazySublayerOfAnExistentialTypeStops() throws {
        try assertStops(withMessage: "LazyHead: lazy var head of type Function is not initialized yet") {
            _ = Model { LazyHead() }.parameters
        }
    }

    func testAUsedLazyParameterIsNamedAndTrains() throws {
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let model = Model { UsedLazyShift() }
        XCTAssertEqual(model.namedStateTensors.map(\.name), ["0.shift"])
        try model.fit(x, targets: Tensor(shape: [2, 2], values: [2, 3, 4, 5]),
                      optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                      epochs: 1, batchSize: 2)
        XCTAssertEqual(model.parameters.first?.values, [0.1, 0.1])
    }
}
