import XCTest
@testable import DeepLearning

/// `Model.load(from:strict: false)`, PyTorch's `load_state_dict(strict=False)`: the tensors the
/// model and the file share are read, the others listed; any other mismatch still throws, with
/// the model unchanged.
final class PartialLoadTests: SafeTensorsTestCase {
    /// The small model's layers, then `Linear(3 → 5)`: a new head on a saved body.
    private func largerModel(seed: UInt64) -> Model {
        let model = Model { Linear(2, 4); ReLU(); Linear(4, 3); Linear(3, 5) }
        model.initializeParameters(seed: seed)
        return model
    }

    private func values(_ layer: any Layer) -> [[Float]] { layer.parameters.map(\.values) }

    func testTheModelsTensorsTheFileLacksAreListedAndKept() throws {
        let saved = smallModel(seed: 1)
        try saved.save(to: path("small.safetensors"))
        let model = largerModel(seed: 2)
        let head = values(model.layers[3])
        let unmatched = try model.load(from: path("small.safetensors"), strict: false)
        XCTAssertEqual(unmatched, UnmatchedTensors(missing: ["3.weight", "3.bias"], unexpected: []))
        XCTAssertEqual(values(model.layers[0]), values(saved.layers[0]))
        XCTAssertEqual(values(model.layers[2]), values(saved.layers[2]))
        XCTAssertEqual(values(model.layers[3]), head)
    }

    func testTheFilesTensorsTheModelLacksAreListedAndNotRead() throws {
        let saved = largerModel(seed: 1)
        let bytes = try saved.fileImage()
        let model = smallModel(seed: 2)
        let unmatched = try model.load(fromSafeTensorsBytes: bytes, source: "larger",
                                       strict: false)
        XCTAssertEqual(unmatched, UnmatchedTensors(missing: [], unexpected: ["3.bias", "3.weight"]))
        XCTAssertEqual(model.parameters.map(\.values),
                       Array(saved.parameters.map(\.values).prefix(4)))
    }

    /// A tensor both have in another shape throws, as in PyTorch, before anything is read:
    /// the layer before it, which matched, is unchanged too.
    func testAShapeMismatchThrowsAndChangesNothing() throws {
        try smallModel(seed: 1).save(to: path("small.safetensors"))
        let model = Model { Linear(2, 4); ReLU(); Linear(4, 7) }
        model.initializeParameters(seed: 2)
        let before = bits(model)
        XCTAssertThrowsError(try model.load(from: path("small.safetensors"), strict: false)) {
            XCTAssertEqual($0 as? DeepLearningError,
                           .shapeMismatch(path: path("small.safetensors"), tensor: "2.weight",
                                          shape: [3, 4], expected: [7, 4]))
        }
        XCTAssertEqual(bits(model), before)
    }

    /// Strict loading (the default) still throws on a missing tensor, changing nothing, and
    /// returns empty lists when everything matches.
    func testStrictLoadingThrowsOnAMissingTensorAndReturnsNoneUnmatched() throws {
        try smallModel(seed: 1).save(to: path("small.safetensors"))
        let larger = largerModel(seed: 2)
        let before = bits(larger)
        XCTAssertThrowsError(try larger.load(from: path("small.safetensors"))) {
            XCTAssertEqual($0 as? DeepLearningError,
                           .missingTensor(path: path("small.safetensors"),
                                          tensors: ["3.weight", "3.bias"], unused: []))
        }
        XCTAssertEqual(bits(larger), before)
        XCTAssertEqual(try smallModel(seed: 2).load(from: path("small.safetensors")),
                       UnmatchedTensors(missing: [], unexpected: []))
    }

    /// A file whose names all carry a prefix (here "0.", saved from the model nested in
    /// another; PyTorch's `DataParallel` adds "module.") leaves everything unmatched, and the
    /// description names the prefix, though the model has tensors the file lacks beside them.
    func testTheDescriptionNamesAPrefixOfTheFilesNames() throws {
        let bytes = try Model { smallModel(seed: 1) }.fileImage()
        let unmatched = try largerModel(seed: 2).load(fromSafeTensorsBytes: bytes,
                                                      source: "nested", strict: false)
        XCTAssertEqual(unmatched.unexpected, ["0.0.bias", "0.0.weight", "0.2.bias", "0.2.weight"])
        XCTAssertEqual(unmatched.description, "missing \"0.weight\", \"0.bias\", \"2.weight\", \"2.bias\" and 2 more; unexpected \"0.0.bias\", \"0.0.weight\", \"0.2.bias\", \"0.2.weight\" (the file's names start with \"0.\": strip it to load them)")
        XCTAssertEqual(UnmatchedTensors(missing: ["3.weight"], unexpected: []).description,
                       "missing \"3.weight\"; unexpected none")
    }

    /// A model whose names carry a prefix the file's lack (the file saved from a model nested
    /// in this one) is named so too, in the description and in a strict load's error.
    func testAPrefixOfTheModelsNamesIsNamedInTheDescriptionAndTheStrictError() throws {
        let bytes = try smallModel(seed: 1).fileImage()
        let hint = " (the model's names are the file's with \"1.\" before them: add it to load them)"
        let unmatched = try Model { ReLU(); smallModel(seed: 2) }
            .load(fromSafeTensorsBytes: bytes, source: "small", strict: false)
        XCTAssertEqual(unmatched.description, "missing \"1.0.weight\", \"1.0.bias\", \"1.2.weight\", \"1.2.bias\"; unexpected \"0.bias\", \"0.weight\", \"2.bias\", \"2.weight\"" + hint)
        XCTAssertThrowsError(try Model { ReLU(); smallModel(seed: 2) }
            .load(fromSafeTensorsBytes: bytes, source: "small")) {
            XCTAssertEqual(($0 as? DeepLearningError)?.description.hasSuffix(hint), true, "\($0)")
        }
    }
}
