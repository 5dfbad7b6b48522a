import DeepLearning
import XCTest

// Reflection walks state inside nested arrays, dictionaries and optionals, and names it by
// index and key; containers of plain values are ignored.

/// Every kind of container of state, and plain values beside them.
private final class Containers: Layer {
    let grid = [[Linear(1, 1)], [Linear(1, 1), Linear(1, 1)]]
    let heads = ["b": Linear(1, 1), "a": Linear(1, 1)]
    let shifts: [Tensor?] = [nil, Tensor(shape: [1], values: [0], requiresGradient: true)]
    let stages: [any Function] = [ReLU(), Linear(1, 1)]
    let unused: Linear? = nil
    let sizes = [[1, 2], [3]]
    let scales = ["x": Tensor(shape: [1], values: [1])]
    func callAsFunction(_ x: Tensor) -> Tensor { x }
}

final class ReflectedContainersTests: XCTestCase {
    func testStateInNestedArraysDictionariesAndOptionalsIsNamedByIndexAndKey() {
        let layer = Containers()
        XCTAssertEqual(layer.namedStateTensors.map(\.name), [
            "shifts.1", "scales.x",
            "grid.0.0.weight", "grid.0.0.bias", "grid.1.0.weight", "grid.1.0.bias",
            "grid.1.1.weight", "grid.1.1.bias",
            "heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
            "stages.1.weight", "stages.1.bias",
        ])
        XCTAssertEqual(layer.namedBuffers.map(\.name), ["scales.x"])
        XCTAssertEqual(layer.parameters.count, 13)
        XCTAssert(layer.parameters.contains { $0 === layer.grid[1][1].weight })
        XCTAssert(layer.parameters.contains { $0 === layer.heads["b"]!.bias })
        XCTAssert(layer.parameters.contains { $0 === layer.shifts[1]! })
    }
}
