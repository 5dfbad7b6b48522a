import Foundation
import XCTest
@testable import DeepLearning

/// Files PyTorch and Python's `safetensors` write and read: PyTorch's names and layout, the
/// original layout, PyTorch's own files, and Python reading and writing ours.
final class SafeTensorsInteropTests: SafeTensorsTestCase {
    // MARK: PyTorch's layout, the original layout, and PyTorch's own files

    /// A square `Linear` reads PyTorch's `[out, in]` weight, not its transpose.
    func testASquareLayerLoadsPyTorchsOrientation() throws {
        // PyTorch's weight [[1, 2], [3, 4]]: output 0 = 1·x0 + 2·x1; in memory [in, out].
        let bytes = [Float]([1, 2, 3, 4, 0.5, -0.5]).flatMap { value in
            (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) }
        }
        let model = Model { Linear(2, 2) }
        try model.load(fromSafeTensorsBytes: try file(entries: [
            "0.weight": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]],
            "0.bias": ["dtype": "F32", "shape": [2], "data_offsets": [16, 24]],
        ], data: bytes), source: "square")
        let linear = model.layers[0] as! Linear
        XCTAssertEqual(linear.weight.values, [1, 3, 2, 4])
        XCTAssertEqual(model.forward(Tensor(shape: [1, 2], values: [1, 10])).values, [21.5, 42.5])
    }

    /// A file without our format marker (PyTorch's, or another tool's) is read in PyTorch's
    /// layout; so is ours with the layout marker.
    func testFilesWithoutOurMarkerAreReadInPyTorchsLayout() throws {
        let (entries, data) = try savedParts()
        for metadata: [String: String]? in [nil, ["format": "pt"], ["format": "DeepLearning", "layout": "pytorch"]] {
            var changed = entries
            changed["__metadata__"] = metadata
            let model = smallModel(seed: 2)
            try model.load(fromSafeTensorsBytes: try file(entries: changed, data: data),
                           source: "\(metadata ?? [:])")
            XCTAssertEqual(bits(model), bits(smallModel(seed: 1)), "\(metadata ?? [:])")
        }
        // Read in the original layout instead, the same file does not fit.
        var original = entries
        original["__metadata__"] = ["format": "DeepLearning"]
        try assertLoadFails(try file(entries: original, data: data),
                            { .shapeMismatch(path: $0, tensor: "0.weight", shape: [4, 2], expected: [2, 4]) },
                            message: { "tensor \"0.weight\" in \($0) has shape [4, 2] but the model's has shape [2, 4]" })
    }

    /// Conv2D(1 → channels, 3, padding 1), BatchNorm(channels), ReLU, MaxPool2D(2), Flatten,
    /// Linear(channels · pooledPixels → outputs), ReLU, Linear(outputs → outputs): the
    /// fixtures' models. The original-layout fixture's (the default) takes inputs
    /// [N, 1, 4, 4]; PyTorch's (`pytorchFixtureModel()`) [N, 1, 6, 6].
    private func convolutionModel(channels: Int = 2, pooledPixels: Int = 4,
                                  outputs: Int = 3) -> Model {
        Model {
            Conv2D(inputChannels: 1, outputChannels: channels, kernelSize: 3, padding: 1)
            BatchNorm(features: channels)
            ReLU()
            MaxPool2D(kernelSize: 2)
            Flatten()
            Linear(channels * pooledPixels, outputs)
            ReLU()
            Linear(outputs, outputs)
        }
    }

    func testConvolutionsAreSavedUnderPyTorchsNames() throws {
        let entries = try savedEntries(of: convolutionModel(), as: "convolution.safetensors")
        XCTAssertEqual(Set(entries.keys), ["0.weight", "0.bias", "1.weight", "1.bias",
                                           "1.running_mean", "1.running_var",
                                           "1.num_batches_tracked", "5.weight", "5.bias",
                                           "7.weight", "7.bias", "__metadata__"])
        XCTAssertEqual(shape("0.weight", in: entries), [2, 1, 3, 3])
        XCTAssertEqual(shape("5.weight", in: entries), [3, 8])
    }

    /// A file of the fixtures folder (a test resource).
    private func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil),
                      "the test resource Fixtures/\(name) is missing")
    }

    /// A fixture's JSON tensor: its shape and values.
    private func fixtureTensor(_ json: Any?) throws -> Tensor {
        let object = try XCTUnwrap(json as? [String: Any])
        let shape = try XCTUnwrap(object["shape"] as? [Int])
        let values = try XCTUnwrap(object["values"] as? [Double])
        return Tensor(shape: shape, values: values.map(Float.init))
    }

    /// A fixture's input and output.
    private func fixtureIO(_ name: String) throws -> (input: Tensor, output: Tensor) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: try fixture(name)))
        let object = try XCTUnwrap(json as? [String: Any])
        return (try fixtureTensor(object["input"]), try fixtureTensor(object["output"]))
    }

    /// The evaluation output of `model` for `input`, copied.
    private func evaluationOutput(_ model: Model, _ input: Tensor) -> [Float] {
        model.isTraining = false
        defer { model.isTraining = true }
        return model.forward(input).values
    }

    /// A file the original `save(to:)` wrote (before the layout marker: `Linear`'s weights
    /// `[in, out]`, Conv2D's parameters "0.0" and "0.1", no `num_batches_tracked`) still loads
    /// and gives the output it gave; the counter is set to 0.
    func testAFileInTheOriginalLayoutStillLoads() throws {
        let target = try fixture("original_layout.safetensors").path
        let (entries, _) = try parts(of: target)
        XCTAssertEqual(entries["__metadata__"] as? [String: String],
                       ["format": "DeepLearning", "layers": convolutionModel().layers.map(\.description).joined(separator: "; ")])
        XCTAssertNotNil(entries["0.0"])
        XCTAssertEqual(shape("5.weight", in: entries), [8, 3])
        let (input, output) = try fixtureIO("original_layout_io.json")
        let model = convolutionModel()
        _ = model.forward(input)
        let norm = model.layers[1] as! BatchNorm
        XCTAssertEqual(norm.batchesTracked.value, 1)
        try model.load(from: target)
        XCTAssertEqual(norm.batchesTracked.value, 0)
        // The fixture's output was computed on the AVX-512 path; other GEMM paths sum in
        // another order, so the comparison allows for rounding.
        let loaded = evaluationOutput(model, input)
        XCTAssertEqual(loaded.count, output.count)
        for (index, (a, e)) in zip(loaded, output.values).enumerated() {
            XCTAssertEqual(a, e, accuracy: 1e-5, "output[\(index)]")
        }
        // Saved again, in PyTorch's layout, it loads into a third model with the same output.
        let resaved = path("resaved.safetensors")
        try model.save(to: resaved)
        let third = convolutionModel()
        try third.load(from: resaved)
        XCTAssertEqual(evaluationOutput(third, input), loaded)
    }

    /// PyTorch's fixture model (Fixtures/pytorch_fixture.py): Conv2D(1 → 3), ..., Linear(27 →
    /// 5), ReLU, Linear(5 → 5).
    private func pytorchFixtureModel() -> Model {
        convolutionModel(channels: 3, pooledPixels: 9, outputs: 5)
    }

    /// The file `safetensors.torch.save_file(model.state_dict())` wrote loads, and gives
    /// PyTorch's eval-mode output within 1e-5 (no PyTorch needed: the fixture is committed).
    func testLoadsAFileWrittenByPyTorch() throws {
        let model = pytorchFixtureModel()
        try model.load(from: try fixture("pytorch_model.safetensors").path)
        XCTAssertEqual((model.layers[1] as! BatchNorm).batchesTracked.value, 3)
        let (input, output) = try fixtureIO("pytorch_io.json")
        XCTAssertEqual(output.shape, [2, 5])
        let actual = evaluationOutput(model, input)
        XCTAssertEqual(actual.count, output.count)
        for (index, (a, e)) in zip(actual, output.values).enumerated() {
            XCTAssertEqual(a, e, accuracy: 1e-5, "output[\(index)]")
        }
    }

    /// PyTorch loads a saved model with `load_state_dict(strict=True)` into the same
    /// `nn.Sequential` and computes the same output. The interpreter: the environment variable
    /// DEEPLEARNING_TORCH_PYTHON, else python3 on PATH; the test skips, naming the reason, when
    /// it cannot import torch, in CI too (PyTorch's wheel is several GB).
    func testPyTorchLoadsASavedModel() throws {
        let environment = ProcessInfo.processInfo.environment
        let python = try environment["DEEPLEARNING_TORCH_PYTHON"]
            ?? pythonOnPath().get()
        do {
            _ = try run(python, "import torch, safetensors")
        } catch {
            throw XCTSkip("\(python) cannot import torch and safetensors (set DEEPLEARNING_TORCH_PYTHON to a python that can): \(error)")
        }
        let model = pytorchFixtureModel()
        model.initializeParameters(seed: 11)
        var generator = SeededGenerator(seed: 12)
        let norm = model.layers[1] as! BatchNorm
        norm.weight.value.update(from: randomTensor([3], in: 0.5..<1.5, using: &generator).values, count: 3)
        norm.bias.value.update(from: randomTensor([3], using: &generator).values, count: 3)
        for _ in 0..<2 { _ = model.forward(randomTensor([4, 1, 6, 6], in: -1..<2, using: &generator)) }
        let target = path("for-torch.safetensors")
        try model.save(to: target)
        let script = try fixture("pytorch_fixture.py").path
        let output = try run(python, arguments: [script, "check", target])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        XCTAssertEqual(json["num_batches_tracked"] as? Int, 2)
        let torchOutput = try fixtureTensor(json["output"])
        let (input, _) = try fixtureIO("pytorch_io.json")
        let actual = evaluationOutput(model, input)
        XCTAssertEqual(torchOutput.shape, [2, 5])
        for (index, (a, e)) in zip(actual, torchOutput.values).enumerated() {
            XCTAssertEqual(a, e, accuracy: 1e-5, "output[\(index)]")
        }
    }

    // MARK: Python's safetensors

    /// Swift writes, `safetensors.numpy.load_file` reads: the same names, shapes and values.
    func testPythonReadsASavedModel() throws {
        let python = try pythonWithSafeTensors()
        let model = smallModel(seed: 1)
        let file = path("for-python.safetensors")
        try model.save(to: file)
        let output = try run(python, """
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="np") as f:
                metadata = f.metadata()
            print(json.dumps({"metadata": metadata, "tensors": {name: {"dtype": str(t.dtype), "shape": list(t.shape), "values": [float(v) for v in t.ravel()]} for name, t in tensors.items()}}))
            """, file)
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        XCTAssertEqual(json["metadata"] as? [String: String],
                       ["format": "DeepLearning", "layout": "pytorch",
                        "layers": "Linear(2 → 4); ReLU; Linear(4 → 3)"])
        let tensors = json["tensors"] as! [String: [String: Any]]
        let expected = pytorchTensors(model)
        XCTAssertEqual(Set(tensors.keys), Set(expected.map(\.name)))
        for (name, shape, values) in expected {
            XCTAssertEqual(tensors[name]?["dtype"] as? String, "float32", name)
            XCTAssertEqual(tensors[name]?["shape"] as? [Int], shape, name)
            let read = (tensors[name]?["values"] as? [Double])?.map { Float($0).bitPattern }
            XCTAssertEqual(read, values.map(\.bitPattern), name)
        }
    }

    /// `safetensors.numpy.save_file` writes in PyTorch's layout (`[out, in]` weights), Swift
    /// loads: the values Python wrote, the weights transposed.
    func testLoadsAFileWrittenByPython() throws {
        let python = try pythonWithSafeTensors()
        let file = path("from-python.safetensors")
        let output = try run(python, """
            import json, sys
            import numpy as np
            from safetensors.numpy import save_file
            shapes = {"0.weight": (4, 2), "0.bias": (4,), "2.weight": (3, 4), "2.bias": (3,)}
            tensors = {name: ((np.arange(np.prod(shape), dtype=np.float32) - 3) / np.float32(7) + i).reshape(shape)
                       for i, (name, shape) in enumerate(shapes.items())}
            save_file(tensors, sys.argv[1], metadata={"written": "by Python"})
            print(json.dumps({name: [float(v) for v in t.ravel()] for name, t in tensors.items()}))
            """, file)
        let expected = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: [Double]]
        let model = smallModel(seed: 2)
        try model.load(from: file)
        for (name, _, values) in pytorchTensors(model) {
            XCTAssertEqual(values.map(\.bitPattern), expected[name]?.map { Float($0).bitPattern }, name)
        }
    }

    /// The path of a python3 on PATH that imports safetensors and numpy. Fails in CI (CI=true)
    /// and skips elsewhere when there is none.
    private func pythonWithSafeTensors() throws -> String {
        var problem: String
        do {
            let python = try pythonOnPath().get()
            do {
                _ = try run(python, "import safetensors, numpy")
                return python
            } catch {
                problem = "\(python) cannot import safetensors and numpy (pip install safetensors numpy): \(error)"
            }
        } catch {
            problem = "\(error)"
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" { throw PythonFailure(message: problem) }
        throw XCTSkip(problem)
    }

    /// The path of python3 on PATH, or a skip that says it is not there.
    private func pythonOnPath() -> Result<String, XCTSkip> {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        let python = directories.map { "\($0)/python3" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        return python.map { .success($0) } ?? .failure(XCTSkip("python3 is not on PATH"))
    }

    private struct PythonFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Runs `python -c script arguments...`; returns its standard output, throws on failure.
    private func run(_ python: String, _ script: String, _ arguments: String...) throws -> String {
        try run(python, arguments: ["-c", script] + arguments)
    }

    /// Runs `python arguments...`; returns its standard output, throws on failure.
    private func run(_ python: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        // Standard error to a file, so that the child never blocks on a full pipe we do not read.
        let errorFile = path("python-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorFile) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: errorFile)
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errorData = FileManager.default.contents(atPath: errorFile) ?? Data()
        guard process.terminationStatus == 0 else {
            let lastLine = String(decoding: errorData, as: UTF8.self).split(separator: "\n").last ?? ""
            throw PythonFailure(message: "python exited with \(process.terminationStatus): \(lastLine)")
        }
        return String(decoding: outputData, as: UTF8.self)
    }
}
