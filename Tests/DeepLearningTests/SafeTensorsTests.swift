import Foundation
import XCTest
@testable import DeepLearning

/// `Model.save(to:)` and `Model.load(from:)`: round trip, PyTorch's names and layout, the
/// original layout, every load error, bounded reads, safe and atomic replacement, and files
/// read and written by Python's `safetensors` and PyTorch.
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

    /// The values of a `[rows, columns]` matrix stored row-major, transposed: `[columns, rows]`.
    private func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        (0..<columns).flatMap { j in (0..<rows).map { i in values[i * columns + j] } }
    }

    /// Each layer's parameters and buffers as PyTorch's `state_dict` holds them: names, shapes
    /// and values, `Linear`'s weight transposed to `[out, in]`.
    private func pytorchTensors(_ model: Model) -> [(name: String, shape: [Int], values: [Float])] {
        model.layers.enumerated().flatMap { index, layer in
            (layer.namedParameters + layer.namedBuffers).map { name, tensor in
                guard layer is Linear, name == "weight" else {
                    return ("\(index).\(name)", tensor.shape, tensor.values)
                }
                let (rows, columns) = (tensor.shape[0], tensor.shape[1])
                return ("\(index).\(name)", [columns, rows],
                        transposed(tensor.values, rows: rows, columns: columns))
            }
        }
    }

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

    /// The header's entries of `model` saved to a file named `name`.
    private func savedEntries(of model: Model, as name: String) throws -> [String: Any] {
        let target = path(name)
        try model.save(to: target)
        return try parts(of: target).entries
    }

    /// The shape of tensor `name` in `entries`.
    private func shape(_ name: String, in entries: [String: Any]) -> [Int]? {
        (entries[name] as? [String: Any])?["shape"] as? [Int]
    }

    /// The path of `smallModel(seed: 1)`, saved.
    private func savedFile() throws -> String {
        let file = path("parts.safetensors")
        try smallModel(seed: 1).save(to: file)
        return file
    }

    /// The saved file of `smallModel(seed: 1)` split into its header's object and its data.
    private func savedParts() throws -> (entries: [String: Any], data: [UInt8]) {
        try parts(of: try savedFile())
    }

    /// A safetensors file of `header` (padded to 8 bytes) and `data`.
    private func file(header: [UInt8], data: [UInt8]) -> [UInt8] {
        let padded = header + [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(padded.count) >> (8 * $0)) } + padded + data
    }

    private func file(entries: [String: Any], data: [UInt8]) throws -> [UInt8] {
        file(header: [UInt8](try JSONSerialization.data(withJSONObject: entries)), data: data)
    }

    /// A valid file of `entries`: each tensor's bytes taken from `data` at its offsets and
    /// laid out again, in the order of the names, so that they tile the data section.
    private func retiledFile(entries: [String: Any], data: [UInt8]) throws -> [UInt8] {
        var retiled = entries
        var newData: [UInt8] = []
        for name in entries.keys.sorted() where name != "__metadata__" {
            var entry = entries[name] as! [String: Any]
            let offsets = entry["data_offsets"] as! [Int]
            entry["data_offsets"] = [newData.count, newData.count + offsets[1] - offsets[0]]
            newData += data[offsets[0]..<offsets[1]]
            retiled[name] = entry
        }
        return try file(entries: retiled, data: newData)
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
        // Linear's weights in PyTorch's layout, [out, in].
        let expected: [(String, [Int], [Int])] = [
            ("0.weight", [4, 2], [0, 32]), ("0.bias", [4], [32, 48]),
            ("2.weight", [3, 4], [48, 96]), ("2.bias", [3], [96, 108]),
        ]
        for (name, shape, offsets) in expected {
            let entry = entries[name] as! [String: Any]
            XCTAssertEqual(entry["dtype"] as? String, "F32", name)
            XCTAssertEqual(entry["shape"] as? [Int], shape, name)
            XCTAssertEqual(entry["data_offsets"] as? [Int], offsets, name)
        }
        XCTAssertEqual(entries["__metadata__"] as? [String: String],
                       ["format": "DeepLearning", "layout": "pytorch",
                        "layers": "Linear(2 → 4); ReLU; Linear(4 → 3)"])
        // The data: the parameters in layer order, little-endian, the weights transposed.
        let values = pytorchTensors(smallModel(seed: 1)).flatMap(\.values)
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

    /// The bits of every parameter and buffer, in layer order, and the counters.
    private func stateBits(_ model: Model) -> [UInt64] {
        let tensors = model.layers.flatMap { $0.namedParameters + $0.namedBuffers }
        let values: [UInt64] = tensors.flatMap(\.tensor.values).map { UInt64($0.bitPattern) }
        let counters: [UInt64] = model.layers.flatMap(\.namedCounters).map {
            UInt64(bitPattern: $0.counter.value)
        }
        return values + counters
    }

    private func assertBatchNormRoundTrip(into restored: Model, file: StaticString = #filePath,
                                          line: UInt = #line) throws {
        let original = batchNormModel(seed: 1, steps: 3)
        let target = path("batchnorm.safetensors")
        let entries = try savedEntries(of: original, as: "batchnorm.safetensors")
        XCTAssertEqual(Set(entries.keys), ["0.weight", "0.bias", "1.weight", "1.bias",
                                           "1.running_mean", "1.running_var",
                                           "1.num_batches_tracked", "3.weight", "3.bias",
                                           "__metadata__"], file: file, line: line)
        XCTAssertEqual(shape("1.running_var", in: entries), [4], file: file, line: line)
        // The counter: an I64 scalar, first in the data so that it is 8-byte aligned.
        let counter = entries["1.num_batches_tracked"] as? [String: Any]
        XCTAssertEqual(counter?["dtype"] as? String, "I64", file: file, line: line)
        XCTAssertEqual(counter?["shape"] as? [Int], [], file: file, line: line)
        XCTAssertEqual(counter?["data_offsets"] as? [Int], [0, 8], file: file, line: line)
        XCTAssertEqual((original.layers[1] as! BatchNorm).batchesTracked.value, 3,
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
        try Data(try retiledFile(entries: changed, data: data)).write(to: URL(fileURLWithPath: target))
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
        XCTAssertEqual(try contents(of: directory.path), [])
    }

    /// A write that fails half-way (the file-size limit, with SIGXFSZ ignored so that `write`
    /// returns EFBIG) leaves the old file as it was and removes the temporary file.
    func testFailedWriteKeepsTheOldFileAndRemovesTheTemporaryFile() throws {
        let target = path("model.safetensors")
        let old = Data(repeating: 0xAB, count: 100)
        try old.write(to: URL(fileURLWithPath: target))
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var small = limit
        small.rlim_cur = 64
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
        let reason = String(cString: strerror(EFBIG))
        assertThrows(.unwritableFile(path: target, reason: reason),
                     message: "cannot write \(target): \(reason)") {
            try smallModel(seed: 1).save(to: target)
        }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        signal(SIGXFSZ, previousHandler)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)), old)
        XCTAssertEqual(try contents(of: directory.path), ["model.safetensors"])
    }

    // MARK: Load errors, each with its message; the model is left unchanged

    func testUnreadableFile() throws {
        try assertLoadFails(at: path("absent.safetensors"),
                            { .unreadableFile(path: $0, reason: "No such file or directory") },
                            message: { "cannot read \($0): No such file or directory" })
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
        // Python's safetensors rejects a byte-order mark before the JSON.
        let (header, data) = try layout(of: savedFile())
        try assertLoadFails(file(header: [0xEF, 0xBB, 0xBF] + header, data: data),
                            { .invalidHeader(path: $0, problem: "it starts with a UTF-8 byte-order mark (EF BB BF) before its \"{\"") },
                            message: { "the header of \($0) is invalid: it starts with a UTF-8 byte-order mark (EF BB BF) before its \"{\"" })
        // Our format marker with a layout this version does not know.
        try assertLoadFails(changing: { $0["__metadata__"] = ["format": "DeepLearning", "layout": "jax"] },
                            { .invalidHeader(path: $0, problem: "its __metadata__ names the layout \"jax\"; this version reads \"pytorch\" and files without a layout") },
                            message: { "the header of \($0) is invalid: its __metadata__ names the layout \"jax\"; this version reads \"pytorch\" and files without a layout" })
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
        let (entries, data) = try savedParts()
        var missing = entries
        missing["0.bias"] = nil
        try assertLoadFails(try retiledFile(entries: missing, data: data),
                            { .missingTensor(path: $0, tensor: "0.bias") },
                            message: { "tensor \"0.bias\" of the model is missing from \($0)" })
        var extra = entries
        extra["4.weight"] = extra["2.weight"]
        try assertLoadFails(try retiledFile(entries: extra, data: data),
                            { .unexpectedTensor(path: $0, tensor: "4.weight") },
                            message: { "tensor \"4.weight\" in \($0) is not a parameter or buffer of the model" })
    }

    func testWrongDTypeShapeAndByteSize() throws {
        try assertLoadFails(changing: setting("0.weight", "dtype", to: "I32"),
                            { .unsupportedDType(path: $0, tensor: "0.weight", dtype: "I32", expected: "F32") },
                            message: { "tensor \"0.weight\" in \($0) has dtype I32; only F32 can be loaded into it" })
        try assertLoadFails(changing: setting("0.weight", "dtype", to: "F17"),
                            { .invalidTensorEntry(path: $0, tensor: "0.weight", problem: "its dtype \"F17\" is not a safetensors dtype") },
                            message: { "the entry of tensor \"0.weight\" in \($0) is invalid: its dtype \"F17\" is not a safetensors dtype" })
        try assertLoadFails(changing: setting("0.weight", "shape", to: [2, 4]),
                            { .shapeMismatch(path: $0, tensor: "0.weight", shape: [2, 4], expected: [4, 2]) },
                            message: { "tensor \"0.weight\" in \($0) has shape [2, 4] but the model's has shape [4, 2]" })
        try assertLoadFails(changing: setting("0.bias", "data_offsets", to: [32, 44]),
                            { .dataSizeMismatch(path: $0, tensor: "0.bias", dtype: "F32", begin: 32, end: 44, shape: [4], byteCount: 16) },
                            message: { "tensor \"0.bias\" in \($0) has data_offsets [32, 44], 12 bytes, but its shape [4] in F32 takes 16" })
        // The same bytes read as F16 are too many: Python's safetensors checks every dtype's size.
        try assertLoadFails(changing: setting("0.weight", "dtype", to: "F16"),
                            { .dataSizeMismatch(path: $0, tensor: "0.weight", dtype: "F16", begin: 0, end: 32, shape: [4, 2], byteCount: 16) },
                            message: { "tensor \"0.weight\" in \($0) has data_offsets [0, 32], 32 bytes, but its shape [4, 2] in F16 takes 16" })
        let huge = [Int.max / 2, 4]
        try assertLoadFails(changing: setting("2.weight", "shape", to: huge),
                            { .invalidTensorEntry(path: $0, tensor: "2.weight", problem: "its shape \(huge) has too many elements") },
                            message: { "the entry of tensor \"2.weight\" in \($0) is invalid: its shape \(huge) has too many elements" })
    }

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

    // MARK: The data section: tensors tile it exactly, as Python's safetensors requires

    /// The saved entries of `smallModel(seed: 1)` with `name`'s data offsets set to `offsets`.
    private func moving(_ name: String, to offsets: [Int]) -> (inout [String: Any]) -> Void {
        setting(name, "data_offsets", to: offsets)
    }

    func testOverlappingTensorsAreRejected() throws {
        // 0.bias [32, 48] read from 0.weight's last 16 bytes instead.
        try assertLoadFails(changing: moving("0.bias", to: [16, 32]),
                            { .overlappingTensors(path: $0, tensor: "0.bias", begin: 16, end: 32, previous: "0.weight", previousBegin: 0, previousEnd: 32) },
                            message: { "tensors \"0.weight\" (data_offsets [0, 32]) and \"0.bias\" ([16, 32]) in \($0) overlap" })
        // Two tensors from the same offset: in the order of their offsets, the shorter first.
        try assertLoadFails(changing: moving("2.bias", to: [32, 44]),
                            { .overlappingTensors(path: $0, tensor: "0.bias", begin: 32, end: 48, previous: "2.bias", previousBegin: 32, previousEnd: 44) },
                            message: { "tensors \"2.bias\" (data_offsets [32, 44]) and \"0.bias\" ([32, 48]) in \($0) overlap" })
    }

    func testGapsAndTrailingBytesAreRejected() throws {
        var (entries, data) = try savedParts()
        // 4 bytes between 0.bias and 2.weight.
        var gap = entries
        moving("2.weight", to: [52, 100])(&gap)
        moving("2.bias", to: [100, 112])(&gap)
        try assertLoadFails(try file(entries: gap, data: Array(data[..<48]) + [0, 0, 0, 0] + data[48...]),
                            { .unclaimedBytes(path: $0, begin: 48, end: 52, after: "0.bias", before: "2.weight") },
                            message: { "the data bytes 48..<52 of \($0) belong to no tensor: they lie after tensor \"0.bias\" and before tensor \"2.weight\"" })
        // 8 bytes before the first tensor.
        var shifted = entries
        for (name, _) in entries where name != "__metadata__" {
            let offsets = (entries[name] as! [String: Any])["data_offsets"] as! [Int]
            moving(name, to: offsets.map { $0 + 8 })(&shifted)
        }
        try assertLoadFails(try file(entries: shifted, data: [UInt8](repeating: 0, count: 8) + data),
                            { .unclaimedBytes(path: $0, begin: 0, end: 8, after: nil, before: "0.weight") },
                            message: { "the data bytes 0..<8 of \($0) belong to no tensor: they lie at the start of the data and before tensor \"0.weight\"" })
        // 4 bytes after the last tensor.
        try assertLoadFails(try file(entries: entries, data: data + [1, 2, 3, 4]),
                            { .unclaimedBytes(path: $0, begin: 108, end: 112, after: "2.bias", before: nil) },
                            message: { "the data bytes 108..<112 of \($0) belong to no tensor: they lie after tensor \"2.bias\" and end the file" })
        // Data but no tensors.
        entries = ["__metadata__": ["format": "DeepLearning"]]
        data = [0, 0]
        try assertLoadFails(try file(entries: entries, data: data),
                            { .unclaimedBytes(path: $0, begin: 0, end: 2, after: nil, before: nil) },
                            message: { "the data bytes 0..<2 of \($0) belong to no tensor: they lie at the start of the data and end the file" })
    }

    func testCounterOfAnotherDType() throws {
        let source = path("counter.safetensors")
        try batchNormModel(seed: 1, steps: 1).save(to: source)
        var (entries, data) = try parts(of: source)
        setting("1.num_batches_tracked", "dtype", to: "F64")(&entries)
        let target = path("bad-counter.safetensors")
        try Data(try file(entries: entries, data: data)).write(to: URL(fileURLWithPath: target))
        let model = batchNormModel(seed: 2, steps: 2)
        let before = stateBits(model)
        assertThrows(.unsupportedDType(path: target, tensor: "1.num_batches_tracked", dtype: "F64", expected: "I64"),
                     message: "tensor \"1.num_batches_tracked\" in \(target) has dtype F64; only I64 can be loaded into it") {
            try model.load(from: target)
        }
        XCTAssertEqual(stateBits(model), before, "a failed load changes nothing")
        data.removeAll()
    }

    // MARK: Bounded reads

    func testOnlyRegularFilesAreRead() throws {
        try assertLoadFails(at: "/dev/zero", { .notARegularFile(path: $0, kind: "a character device") },
                            message: { "\($0) is a character device, not a regular file" })
        try assertLoadFails(at: directory.path, { .notARegularFile(path: $0, kind: "a directory") },
                            message: { "\($0) is a directory, not a regular file" })
        // A FIFO without a writer: refused at once, not waited on.
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try assertLoadFails(at: fifo, { .notARegularFile(path: $0, kind: "a FIFO") },
                            message: { "\($0) is a FIFO, not a regular file" })
    }

    /// A file of `size` bytes (sparse: nothing is written beyond `prefix`) that starts with
    /// `prefix`.
    private func sparseFile(_ name: String, prefix: [UInt8], size: Int) throws -> String {
        let target = path(name)
        try Data(prefix).write(to: URL(fileURLWithPath: target))
        XCTAssertEqual(truncate(target, off_t(size)), 0, "cannot extend \(target)")
        return target
    }

    func testHeaderLargerThanPythonsLimitIsRefusedBeforeItIsRead() throws {
        let limit = SafeTensorsHeader.maximumLength
        let lengths: [UInt64] = [UInt64(limit) + 1, 1_000_000_000, .max]
        for length in lengths {
            let prefix = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + Array("{".utf8)
            // 1 GB of header in a sparse file: refused without reading it.
            let target = try sparseFile("large-header.safetensors", prefix: prefix,
                                        size: 8 + Int(min(length, 1_000_000_000)))
            try assertLoadFails(at: target, { .headerTooLarge(path: $0, headerLength: length, limit: limit) },
                                message: { "the header of \($0) announces \(length) bytes, more than the 100000000 a safetensors header may have" })
        }
    }

    /// Only the header and the tensors' bytes are read: 4 GB of trailing bytes (a sparse file)
    /// are reported from the file's size, not read.
    func testTrailingGigabytesAreReportedWithoutBeingRead() throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try savedFile())))
        let size = 4 << 30
        let target = try sparseFile("huge.safetensors", prefix: whole, size: size)
        let dataStart = whole.count - 108
        try assertLoadFails(at: target, { .unclaimedBytes(path: $0, begin: 108, end: size - dataStart, after: "2.bias", before: nil) },
                            message: { "the data bytes 108..<\(size - dataStart) of \($0) belong to no tensor: they lie after tensor \"2.bias\" and end the file" })
    }

    /// The bytes in memory load as the file does, and fail as it does, naming the source.
    func testLoadingFromBytesInMemory() throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try savedFile())))
        let model = smallModel(seed: 2)
        try model.load(fromSafeTensorsBytes: whole, source: "in memory")
        XCTAssertEqual(bits(model), bits(smallModel(seed: 1)))
        let other = smallModel(seed: 3)
        let before = bits(other)
        assertThrows(.truncatedTensor(path: "in memory", tensor: "2.bias", end: 108, dataSize: 107),
                     message: "in memory is truncated: tensor \"2.bias\" ends at data offset 108 but the data has 107 bytes") {
            try other.load(fromSafeTensorsBytes: Array(whole.dropLast()), source: "in memory")
        }
        XCTAssertEqual(bits(other), before)
    }

    // MARK: Saving safely: through links, never over a device, FIFO or directory

    private func isSymbolicLink(_ target: String) -> Bool {
        var status = stat()
        return lstat(target, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK
    }

    private func mode(of target: String) -> mode_t {
        var status = stat()
        XCTAssertEqual(stat(target, &status), 0, target)
        return status.st_mode
    }

    func testSavingThroughASymbolicLinkWritesItsTarget() throws {
        try FileManager.default.createDirectory(atPath: path("models"), withIntermediateDirectories: false)
        let target = path("models/model.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: target))
        // An absolute link, a relative one, and a link to that link.
        try FileManager.default.createSymbolicLink(atPath: path("absolute"), withDestinationPath: target)
        try FileManager.default.createSymbolicLink(atPath: path("relative"), withDestinationPath: "models/model.safetensors")
        try FileManager.default.createSymbolicLink(atPath: path("chained"), withDestinationPath: "relative")
        for (seed, link) in [(1, "absolute"), (2, "relative"), (3, "chained")] as [(UInt64, String)] {
            try smallModel(seed: seed).save(to: path(link))
            XCTAssertTrue(isSymbolicLink(path(link)), "\(link) is still a link")
            let restored = smallModel(seed: 9)
            try restored.load(from: target)
            XCTAssertEqual(bits(restored), bits(smallModel(seed: seed)), link)
        }
        XCTAssertEqual(try contents(of: path("models")), ["model.safetensors"])
        // A link whose target does not exist yet: the target is created.
        try FileManager.default.createSymbolicLink(atPath: path("dangling"), withDestinationPath: "models/new.safetensors")
        try smallModel(seed: 4).save(to: path("dangling"))
        XCTAssertTrue(isSymbolicLink(path("dangling")))
        XCTAssertEqual(try contents(of: path("models")), ["model.safetensors", "new.safetensors"])
    }

    func testSavingRefusesDevicesFIFOsAndDirectories() throws {
        let fifo = path("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let occupied = path("occupied")
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: path("to-fifo"), withDestinationPath: fifo)
        // A character device: as root a null device node of our own (replacing /dev/null
        // itself would be the very damage under test); otherwise /dev/null, which a user
        // cannot replace anyway.
        var device = path("null")
        var null = stat()
        XCTAssertEqual(stat("/dev/null", &null), 0)
        if mknod(device, S_IFCHR | 0o666, null.st_rdev) != 0 { device = "/dev/null" }
        let cases: [(String, String)] = [
            (fifo, "a FIFO"), (occupied, "a directory"), (device, "a character device"),
            (path("to-fifo"), "a symbolic link to a FIFO, \(fifo)"),
        ]
        for (target, kind) in cases {
            let before = mode(of: target) & S_IFMT
            assertThrows(.notARegularFile(path: target, kind: kind),
                         message: "\(target) is \(kind), not a regular file") {
                try smallModel(seed: 1).save(to: target)
            }
            XCTAssertEqual(mode(of: target) & S_IFMT, before, "\(target) was replaced")
        }
        XCTAssertEqual(try contents(of: directory.path).filter { $0.hasPrefix(".") }, [],
                       "a temporary file was left")
    }

    /// Valid names of 253 and 255 bytes (NAME_MAX) save: the temporary name is short.
    func testLongFileNamesSave() throws {
        for length in [253, 255] {
            let name = String(repeating: "m", count: length - ".safetensors".count) + ".safetensors"
            try smallModel(seed: 1).save(to: path(name))
            let restored = smallModel(seed: 2)
            try restored.load(from: path(name))
            XCTAssertEqual(bits(restored), bits(smallModel(seed: 1)), "\(length)")
            try FileManager.default.removeItem(atPath: path(name))
        }
        XCTAssertEqual(try contents(of: directory.path), [])
    }

    /// A replaced file keeps its permissions; a new one gets 0o666 less the umask.
    func testReplacedFileKeepsItsPermissions() throws {
        let target = path("model.safetensors")
        try smallModel(seed: 1).save(to: target)
        let mask = umask(0)
        umask(mask)
        XCTAssertEqual(mode(of: target) & 0o7777, 0o666 & ~mask)
        for permissions: mode_t in [0o600, 0o640, 0o444] {
            XCTAssertEqual(chmod(target, permissions), 0)
            try smallModel(seed: 2).save(to: target)
            XCTAssertEqual(mode(of: target) & 0o7777, permissions, String(permissions, radix: 8))
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

/// A layer with two parameters and no names of its own.
private final class Pair: Function {
    let first = Tensor(shape: [3], values: [1, 2, 3])
    let second = Tensor(shape: [1], values: [4])
    var description: String { "Pair" }
    var parameters: [Tensor] { [first, second] }
    func forward(_ input: Tensor) -> Tensor { input }
    func backward(_ outputGradient: Tensor) -> Tensor { outputGradient }
}
