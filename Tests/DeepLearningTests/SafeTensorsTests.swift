import Foundation
import XCTest
@testable import DeepLearning

/// `Model.save(to:)` and `Model.load(from:)`: round trip, names, layout, every load error,
/// atomic replacement, and files read and written by Python's `safetensors`.
final class SafeTensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SafeTensorsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func contents(of directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// Linear(2 → 4), ReLU, Linear(4 → 3), its parameters drawn from `seed`.
    private func smallModel(seed: UInt64) -> Model {
        let model = Model { Linear(2, 4); ReLU(); Linear(4, 3) }
        model.initializeParameters(seed: seed)
        return model
    }

    private func bits(_ model: Model) -> [UInt32] { model.parameters.flatMap(\.values).map(\.bitPattern) }

    /// The file at `file` split into its header (as written, padding included) and its data.
    private func layout(of file: String) throws -> (header: ArraySlice<UInt8>, data: [UInt8]) {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let length = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return (bytes[8..<8 + length], Array(bytes[(8 + length)...]))
    }

    /// The file at `file` split into its header's object and its data.
    private func parts(of file: String) throws -> (entries: [String: Any], data: [UInt8]) {
        let (header, data) = try layout(of: file)
        return (try JSONSerialization.jsonObject(with: Data(header)) as! [String: Any], data)
    }

    /// The saved file of `smallModel(seed: 1)` split into its header's object and its data.
    private func savedParts() throws -> (entries: [String: Any], data: [UInt8]) {
        let file = path("parts.safetensors")
        try smallModel(seed: 1).save(to: file)
        return try parts(of: file)
    }

    /// A safetensors file of `header` (padded to 8 bytes) and `data`.
    private func file(header: [UInt8], data: [UInt8]) -> [UInt8] {
        let padded = header + [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(padded.count) >> (8 * $0)) } + padded + data
    }

    private func file(entries: [String: Any], data: [UInt8]) throws -> [UInt8] {
        file(header: [UInt8](try JSONSerialization.data(withJSONObject: entries)), data: data)
    }

    /// Asserts that loading `bytes` (written to a file) into a model throws `expected` with
    /// `message(path)` and leaves the model's parameters unchanged.
    private func assertLoadFails(_ bytes: [UInt8], _ expected: (String) -> DeepLearningError,
                                 message: (String) -> String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let target = path("bad.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        try assertLoadFails(at: target, expected, message: message, file: file, line: line)
    }

    private func assertLoadFails(at target: String, _ expected: (String) -> DeepLearningError,
                                 message: (String) -> String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let model = smallModel(seed: 2)
        let before = bits(model)
        assertThrows(expected(target), message: message(target), { try model.load(from: target) },
                     file: file, line: line)
        XCTAssertEqual(bits(model), before, "the failed load changed the model", file: file, line: line)
    }

    /// Loads a file whose entries are the saved ones changed by `change`.
    private func assertLoadFails(changing change: (inout [String: Any]) -> Void,
                                 _ expected: (String) -> DeepLearningError,
                                 message: (String) -> String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        var (entries, data) = try savedParts()
        change(&entries)
        try assertLoadFails(try self.file(entries: entries, data: data), expected,
                            message: message, file: file, line: line)
    }

    /// Sets `key` of the entry of tensor `name` to `value` (removes it when nil).
    private func setting(_ name: String, _ key: String, to value: Any?) -> (inout [String: Any]) -> Void {
        { entries in
            var entry = entries[name] as! [String: Any]
            entry[key] = value
            entries[name] = entry
        }
    }

    // MARK: Saving and loading

    func testRoundTripRestoresParametersAndPredictionsBitForBit() throws {
        let original = smallModel(seed: 1)
        let file = path("model.safetensors")
        try original.save(to: file)
        let restored = smallModel(seed: 2)
        XCTAssertNotEqual(bits(restored), bits(original))
        try restored.load(from: file)
        XCTAssertEqual(bits(restored), bits(original))
        var generator = SeededGenerator(seed: 3)
        let inputs = randomTensor([16, 2], using: &generator)
        XCTAssertEqual(restored.probabilities(inputs).values.map(\.bitPattern),
                       original.probabilities(inputs).values.map(\.bitPattern))
        XCTAssertEqual(restored.predict(inputs), original.predict(inputs))
    }

    func testNamesShapesOffsetsAndMetadata() throws {
        let (entries, data) = try savedParts()
        XCTAssertEqual(Set(entries.keys), ["0.weight", "0.bias", "2.weight", "2.bias", "__metadata__"])
        let expected: [(String, [Int], [Int])] = [
            ("0.weight", [2, 4], [0, 32]), ("0.bias", [4], [32, 48]),
            ("2.weight", [4, 3], [48, 96]), ("2.bias", [3], [96, 108]),
        ]
        for (name, shape, offsets) in expected {
            let entry = entries[name] as! [String: Any]
            XCTAssertEqual(entry["dtype"] as? String, "F32", name)
            XCTAssertEqual(entry["shape"] as? [Int], shape, name)
            XCTAssertEqual(entry["data_offsets"] as? [Int], offsets, name)
        }
        XCTAssertEqual(entries["__metadata__"] as? [String: String],
                       ["format": "DeepLearning", "layers": "Linear(2 → 4); ReLU; Linear(4 → 3)"])
        // The data: the parameters in layer order, little-endian.
        let model = smallModel(seed: 1)
        let values = model.parameters.flatMap(\.values)
        XCTAssertEqual(data, values.flatMap { value in
            (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) }
        })
    }

    func testLayersWithoutNamesGetTheirParametersIndices() throws {
        let model = Model { Linear(2, 3); Pair() }
        XCTAssertEqual(model.layers[1].namedParameters.map(\.name), ["0", "1"])
        let file = path("pair.safetensors")
        try model.save(to: file)
        let (entries, _) = try parts(of: file)
        XCTAssertEqual(Set(entries.keys), ["0.weight", "0.bias", "1.0", "1.1", "__metadata__"])
    }

    // MARK: Buffers: BatchNorm's running statistics

    /// Linear(2 → 4), BatchNorm(4), ReLU, Linear(4 → 3), its parameters drawn from `seed` and
    /// its running statistics moved by `steps` training passes over inputs drawn from `seed`.
    private func batchNormModel(seed: UInt64, steps: Int) -> Model {
        let model = Model { Linear(2, 4); BatchNorm(features: 4); ReLU(); Linear(4, 3) }
        model.initializeParameters(seed: seed)
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<steps { _ = model.forward(randomTensor([8, 2], in: 0..<3, using: &generator)) }
        return model
    }

    /// The bits of every parameter and buffer, in layer order.
    private func stateBits(_ model: Model) -> [UInt32] {
        model.layers.flatMap { $0.namedParameters + $0.namedBuffers }
            .flatMap(\.tensor.values).map(\.bitPattern)
    }

    private func assertBatchNormRoundTrip(into restored: Model, file: StaticString = #filePath,
                                          line: UInt = #line) throws {
        let original = batchNormModel(seed: 1, steps: 3)
        let target = path("batchnorm.safetensors")
        try original.save(to: target)
        let (entries, _) = try parts(of: target)
        XCTAssertEqual(Set(entries.keys), ["0.weight", "0.bias", "1.weight", "1.bias",
                                           "1.running_mean", "1.running_var", "3.weight",
                                           "3.bias", "__metadata__"], file: file, line: line)
        XCTAssertEqual((entries["1.running_var"] as? [String: Any])?["shape"] as? [Int], [4],
                       file: file, line: line)
        XCTAssertNotEqual(stateBits(restored), stateBits(original), file: file, line: line)
        try restored.load(from: target)
        XCTAssertEqual(stateBits(restored), stateBits(original), file: file, line: line)
        var generator = SeededGenerator(seed: 3)
        let inputs = randomTensor([16, 2], using: &generator)
        XCTAssertEqual(restored.probabilities(inputs).values.map(\.bitPattern),
                       original.probabilities(inputs).values.map(\.bitPattern),
                       "evaluation uses the loaded running statistics", file: file, line: line)
    }

    func testRoundTripRestoresRunningStatistics() throws {
        // A fresh model: running mean 0 and variance 1.
        try assertBatchNormRoundTrip(into: batchNormModel(seed: 1, steps: 0))
    }

    func testLoadingReplacesDifferentRunningStatistics() throws {
        try assertBatchNormRoundTrip(into: batchNormModel(seed: 2, steps: 5))
    }

    func testMissingRunningStatisticIsAnError() throws {
        let source = path("no-running-var.safetensors")
        try batchNormModel(seed: 1, steps: 1).save(to: source)
        let (entries, data) = try parts(of: source)
        var changed = entries
        changed["1.running_var"] = nil
        let target = path("bad-batchnorm.safetensors")
        try Data(try file(entries: changed, data: data)).write(to: URL(fileURLWithPath: target))
        let model = batchNormModel(seed: 2, steps: 1)
        let before = stateBits(model)
        assertThrows(.missingTensor(path: target, tensor: "1.running_var"),
                     message: "tensor \"1.running_var\" of the model is missing from \(target)") {
            try model.load(from: target)
        }
        XCTAssertEqual(stateBits(model), before, "a failed load changes nothing")
    }

    func testHeaderIsPaddedWithSpacesSoTheDataStartsAtAMultipleOfEight() throws {
        // Several sizes, so that the unpadded headers end at different remainders of 8.
        var remainders: Set<Int> = []
        for width in 1...8 {
            let file = path("aligned\(width).safetensors")
            try Model { Linear(width, 10 * width + 1) }.save(to: file)
            let (header, data) = try layout(of: file)
            XCTAssertEqual((8 + header.count) % 8, 0, "width \(width)")
            let end = header.lastIndex(of: UInt8(ascii: "}"))!
            XCTAssertTrue(header[(end + 1)...].allSatisfy { $0 == UInt8(ascii: " ") },
                          "width \(width): the header is padded with something else than spaces")
            XCTAssertLessThan(header.endIndex - (end + 1), 8, "width \(width): too much padding")
            remainders.insert((end + 1 - header.startIndex) % 8)
            XCTAssertEqual(data.count, 4 * (width * (10 * width + 1) + 10 * width + 1))
        }
        XCTAssertGreaterThan(remainders.count, 2, "the sizes did not exercise the padding")
    }

    func testSavingReplacesAnExistingFileAndLeavesNoTemporaryFile() throws {
        let file = path("model.safetensors")
        try Data(repeating: 0xAB, count: 10_000).write(to: URL(fileURLWithPath: file))
        try smallModel(seed: 1).save(to: file)
        XCTAssertEqual(try contents(of: directory.path), ["model.safetensors"])
        let restored = smallModel(seed: 2)
        try restored.load(from: file)
        XCTAssertEqual(bits(restored), bits(smallModel(seed: 1)))
    }

    func testFailedSaveThrowsAndLeavesNoTemporaryFile() throws {
        let missing = path("missing/model.safetensors")
        assertThrows(.unwritableFile(path: missing, reason: "No such file or directory"),
                     message: "cannot write \(missing): No such file or directory") {
            try smallModel(seed: 1).save(to: missing)
        }
        // The rename fails: the target is a directory. The temporary file is removed.
        let occupied = path("occupied")
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: false)
        assertThrows(.unwritableFile(path: occupied, reason: "Is a directory"),
                     message: "cannot write \(occupied): Is a directory") {
            try smallModel(seed: 1).save(to: occupied)
        }
        XCTAssertEqual(try contents(of: directory.path), ["occupied"])
    }

    // MARK: Load errors, each with its message; the model is left unchanged

    func testUnreadableFile() throws {
        try assertLoadFails(at: path("absent.safetensors"),
                            { .unreadableFile(path: $0, reason: "No such file or directory") },
                            message: { "cannot read \($0): No such file or directory" })
        try assertLoadFails(at: directory.path,
                            { .unreadableFile(path: $0, reason: "Is a directory") },
                            message: { "cannot read \($0): Is a directory" })
    }

    func testTruncatedFiles() throws {
        try assertLoadFails([8, 0, 0, 0, 0], { .truncatedHeader(path: $0, size: 5, headerLength: nil) },
                            message: { "\($0) is truncated: its 5 bytes do not hold the 8-byte header length" })
        let (entries, data) = try savedParts()
        let whole = try file(entries: entries, data: data)
        let headerLength = UInt64(whole.count - 8 - data.count)
        try assertLoadFails(Array(whole.prefix(100)),
                            { .truncatedHeader(path: $0, size: 100, headerLength: headerLength) },
                            message: { "\($0) is truncated: its 100 bytes do not hold the 8-byte header length and the \(headerLength)-byte header" })
        try assertLoadFails(Array(whole.dropLast(4)),
                            { .truncatedTensor(path: $0, tensor: "2.bias", end: 108, dataSize: 104) },
                            message: { "\($0) is truncated: tensor \"2.bias\" ends at data offset 108 but the data has 104 bytes" })
        // A header length beyond any size.
        try assertLoadFails([UInt8](repeating: 0xFF, count: 16),
                            { .truncatedHeader(path: $0, size: 16, headerLength: .max) },
                            message: { "\($0) is truncated: its 16 bytes do not hold the 8-byte header length and the 18446744073709551615-byte header" })
    }

    func testHeaderThatIsNotAJSONObject() throws {
        try assertLoadFails(file(header: Array("{\"0.weight\": ".utf8), data: []),
                            { .invalidHeader(path: $0, problem: "it is not valid JSON") },
                            message: { "the header of \($0) is invalid: it is not valid JSON" })
        try assertLoadFails(file(header: [0x7B, 0xFF, 0x7D], data: []),
                            { .invalidHeader(path: $0, problem: "it is not valid UTF-8") },
                            message: { "the header of \($0) is invalid: it is not valid UTF-8" })
        try assertLoadFails(file(header: Array("[1, 2]".utf8), data: []),
                            { .invalidHeader(path: $0, problem: "it is [1,2], not a JSON object") },
                            message: { "the header of \($0) is invalid: it is [1,2], not a JSON object" })
        try assertLoadFails(changing: { $0["__metadata__"] = ["format": 1] },
                            { .invalidHeader(path: $0, problem: "its __metadata__ {\"format\":1} is not an object of strings") },
                            message: { "the header of \($0) is invalid: its __metadata__ {\"format\":1} is not an object of strings" })
    }

    func testInvalidTensorEntries() throws {
        for key in ["dtype", "shape", "data_offsets"] {
            try assertLoadFails(changing: setting("0.bias", key, to: nil),
                                { .invalidTensorEntry(path: $0, tensor: "0.bias", problem: "it lacks \"\(key)\"") },
                                message: { "the entry of tensor \"0.bias\" in \($0) is invalid: it lacks \"\(key)\"" })
        }
        try assertLoadFails(changing: { $0["0.bias"] = "F32" },
                            { .invalidTensorEntry(path: $0, tensor: "0.bias", problem: "it is \"F32\", not a JSON object") },
                            message: { "the entry of tensor \"0.bias\" in \($0) is invalid: it is \"F32\", not a JSON object" })
        try assertLoadFails(changing: setting("2.weight", "dtype", to: 32),
                            { .invalidTensorEntry(path: $0, tensor: "2.weight", problem: "its dtype 32 is not a string") },
                            message: { "the entry of tensor \"2.weight\" in \($0) is invalid: its dtype 32 is not a string" })
        for shape: Any in [[4, -3], [4, 1.5], [true, 3], "4x3"] {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: shape, options: .fragmentsAllowed), as: UTF8.self)
            try assertLoadFails(changing: setting("2.weight", "shape", to: shape),
                                { .invalidTensorEntry(path: $0, tensor: "2.weight", problem: "its shape \(text) is not a list of non-negative integers") },
                                message: { "the entry of tensor \"2.weight\" in \($0) is invalid: its shape \(text) is not a list of non-negative integers" })
        }
        for offsets in [[96, 48], [-4, 44], [48]] {
            let text = "[\(offsets.map(String.init).joined(separator: ","))]"
            try assertLoadFails(changing: setting("2.weight", "data_offsets", to: offsets),
                                { .invalidTensorEntry(path: $0, tensor: "2.weight", problem: "its data_offsets \(text) are not two integers 0 ≤ begin ≤ end") },
                                message: { "the entry of tensor \"2.weight\" in \($0) is invalid: its data_offsets \(text) are not two integers 0 ≤ begin ≤ end" })
        }
    }

    func testMissingAndUnexpectedTensors() throws {
        try assertLoadFails(changing: { $0["2.bias"] = nil },
                            { .missingTensor(path: $0, tensor: "2.bias") },
                            message: { "tensor \"2.bias\" of the model is missing from \($0)" })
        try assertLoadFails(changing: { $0["4.weight"] = $0["2.weight"] },
                            { .unexpectedTensor(path: $0, tensor: "4.weight") },
                            message: { "tensor \"4.weight\" in \($0) is not a parameter or buffer of the model" })
    }

    func testWrongDTypeShapeAndByteSize() throws {
        try assertLoadFails(changing: setting("0.weight", "dtype", to: "F16"),
                            { .unsupportedDType(path: $0, tensor: "0.weight", dtype: "F16") },
                            message: { "tensor \"0.weight\" in \($0) has dtype F16; only F32 can be loaded" })
        try assertLoadFails(changing: setting("0.weight", "shape", to: [4, 2]),
                            { .shapeMismatch(path: $0, tensor: "0.weight", shape: [4, 2], expected: [2, 4]) },
                            message: { "tensor \"0.weight\" in \($0) has shape [4, 2] but the model's has shape [2, 4]" })
        try assertLoadFails(changing: setting("0.bias", "data_offsets", to: [32, 44]),
                            { .dataSizeMismatch(path: $0, tensor: "0.bias", begin: 32, end: 44, shape: [4]) },
                            message: { "tensor \"0.bias\" in \($0) has data_offsets [32, 44], 12 bytes, but its shape [4] in F32 takes 16" })
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
                       ["format": "DeepLearning", "layers": "Linear(2 → 4); ReLU; Linear(4 → 3)"])
        let tensors = json["tensors"] as! [String: [String: Any]]
        let expected = model.layers.enumerated().flatMap { index, layer in
            layer.namedParameters.map { ("\(index).\($0.name)", $0.tensor) }
        }
        XCTAssertEqual(Set(tensors.keys), Set(expected.map(\.0)))
        for (name, tensor) in expected {
            XCTAssertEqual(tensors[name]?["dtype"] as? String, "float32", name)
            XCTAssertEqual(tensors[name]?["shape"] as? [Int], tensor.shape, name)
            let values = (tensors[name]?["values"] as? [Double])?.map { Float($0).bitPattern }
            XCTAssertEqual(values, tensor.values.map(\.bitPattern), name)
        }
    }

    /// `safetensors.numpy.save_file` writes, Swift loads: the values Python wrote.
    func testLoadsAFileWrittenByPython() throws {
        let python = try pythonWithSafeTensors()
        let file = path("from-python.safetensors")
        let output = try run(python, """
            import json, sys
            import numpy as np
            from safetensors.numpy import save_file
            shapes = {"0.weight": (2, 4), "0.bias": (4,), "2.weight": (4, 3), "2.bias": (3,)}
            tensors = {name: ((np.arange(np.prod(shape), dtype=np.float32) - 3) / np.float32(7) + i).reshape(shape)
                       for i, (name, shape) in enumerate(shapes.items())}
            save_file(tensors, sys.argv[1], metadata={"written": "by Python"})
            print(json.dumps({name: [float(v) for v in t.ravel()] for name, t in tensors.items()}))
            """, file)
        let expected = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: [Double]]
        let model = smallModel(seed: 2)
        try model.load(from: file)
        for (index, layer) in model.layers.enumerated() {
            for (name, tensor) in layer.namedParameters {
                XCTAssertEqual(tensor.values.map(\.bitPattern),
                               expected["\(index).\(name)"]?.map { Float($0).bitPattern }, "\(index).\(name)")
            }
        }
    }

    /// The path of a python3 on PATH that imports safetensors and numpy. Fails in CI (CI=true)
    /// and skips elsewhere when there is none.
    private func pythonWithSafeTensors() throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        let python = directories.map { "\($0)/python3" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        var problem = "python3 is not on PATH"
        if let python {
            do {
                _ = try run(python, "import safetensors, numpy")
                return python
            } catch {
                problem = "\(python) cannot import safetensors and numpy (pip install safetensors numpy): \(error)"
            }
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" { throw PythonFailure(message: problem) }
        throw XCTSkip(problem)
    }

    private struct PythonFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Runs `python -c script arguments...`; returns its standard output, throws on failure.
    private func run(_ python: String, _ script: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script] + arguments
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

/// A layer with two parameters and no names of its own.
private final class Pair: Function {
    let first = Tensor(shape: [3], values: [1, 2, 3])
    let second = Tensor(shape: [1], values: [4])
    var description: String { "Pair" }
    var parameters: [Tensor] { [first, second] }
    func forward(_ input: Tensor) -> Tensor { input }
    func backward(_ outputGradient: Tensor) -> Tensor { outputGradient }
}
