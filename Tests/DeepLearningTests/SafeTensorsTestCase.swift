import Foundation
import XCTest
@testable import DeepLearning

/// What the safetensors test classes share: a temporary directory per test, and the helpers
/// that save models, take files apart and assert failed loads.
class SafeTensorsTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SafeTensorsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func contents(of directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// Linear(2 → 4), ReLU, Linear(4 → 3), its parameters drawn from `seed`.
    func smallModel(seed: UInt64) -> Model {
        let model = Model { Linear(2, 4); ReLU(); Linear(4, 3) }
        model.initializeParameters(seed: seed)
        return model
    }

    func bits(_ model: Model) -> [UInt32] { model.parameters.flatMap(\.values).map(\.bitPattern) }

    /// The values of a `[rows, columns]` matrix stored row-major, transposed: `[columns, rows]`.
    func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        (0..<columns).flatMap { j in (0..<rows).map { i in values[i * columns + j] } }
    }

    /// Each layer's parameters and buffers as PyTorch's `state_dict` holds them: names, shapes
    /// and values, `Linear`'s weight transposed to `[out, in]`.
    func pytorchTensors(_ model: Model) -> [(name: String, shape: [Int], values: [Float])] {
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
    func layout(of file: String) throws -> (header: ArraySlice<UInt8>, data: [UInt8]) {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let length = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return (bytes[8..<8 + length], Array(bytes[(8 + length)...]))
    }

    /// The file at `file` split into its header's object and its data.
    func parts(of file: String) throws -> (entries: [String: Any], data: [UInt8]) {
        let (header, data) = try layout(of: file)
        return (try JSONSerialization.jsonObject(with: Data(header)) as! [String: Any], data)
    }

    /// The header's entries of `model` saved to a file named `name`.
    func savedEntries(of model: Model, as name: String) throws -> [String: Any] {
        let target = path(name)
        try model.save(to: target)
        return try parts(of: target).entries
    }

    /// The shape of tensor `name` in `entries`.
    func shape(_ name: String, in entries: [String: Any]) -> [Int]? {
        (entries[name] as? [String: Any])?["shape"] as? [Int]
    }

    /// The path of `smallModel(seed: 1)`, saved.
    func savedFile() throws -> String {
        let file = path("parts.safetensors")
        try smallModel(seed: 1).save(to: file)
        return file
    }

    /// The saved file of `smallModel(seed: 1)` split into its header's object and its data.
    func savedParts() throws -> (entries: [String: Any], data: [UInt8]) {
        try parts(of: try savedFile())
    }

    /// A safetensors file of `header` (padded to 8 bytes) and `data`.
    func file(header: [UInt8], data: [UInt8]) -> [UInt8] {
        let padded = header + [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(padded.count) >> (8 * $0)) } + padded + data
    }

    func file(entries: [String: Any], data: [UInt8]) throws -> [UInt8] {
        file(header: [UInt8](try JSONSerialization.data(withJSONObject: entries)), data: data)
    }

    /// A valid file of `entries`: each tensor's bytes taken from `data` at its offsets and
    /// laid out again, in the order of the names, so that they tile the data section.
    func retiledFile(entries: [String: Any], data: [UInt8]) throws -> [UInt8] {
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
    func assertLoadFails(_ bytes: [UInt8], _ expected: (String) -> DeepLearningError,
                                 message: (String) -> String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let target = path("bad.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        try assertLoadFails(at: target, expected, message: message, file: file, line: line)
    }

    func assertLoadFails(at target: String, _ expected: (String) -> DeepLearningError,
                                 message: (String) -> String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let model = smallModel(seed: 2)
        let before = bits(model)
        assertThrows(expected(target), message: message(target), { try model.load(from: target) },
                     file: file, line: line)
        XCTAssertEqual(bits(model), before, "the failed load changed the model", file: file, line: line)
    }

    /// Loads a file whose entries are the saved ones changed by `change`.
    func assertLoadFails(changing change: (inout [String: Any]) -> Void,
                                 _ expected: (String) -> DeepLearningError,
                                 message: (String) -> String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        var (entries, data) = try savedParts()
        change(&entries)
        try assertLoadFails(try self.file(entries: entries, data: data), expected,
                            message: message, file: file, line: line)
    }

    /// Sets `key` of the entry of tensor `name` to `value` (removes it when nil).
    func setting(_ name: String, _ key: String, to value: Any?) -> (inout [String: Any]) -> Void {
        { entries in
            var entry = entries[name] as! [String: Any]
            entry[key] = value
            entries[name] = entry
        }
    }

    /// Linear(2 → 4), BatchNorm(4), ReLU, Linear(4 → 3), its parameters drawn from `seed` and
    /// its running statistics moved by `steps` training passes over inputs drawn from `seed`.
    func batchNormModel(seed: UInt64, steps: Int) -> Model {
        let model = Model { Linear(2, 4); BatchNorm(features: 4); ReLU(); Linear(4, 3) }
        model.initializeParameters(seed: seed)
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<steps { _ = model.forward(randomTensor([8, 2], in: 0..<3, using: &generator)) }
        return model
    }

    /// The bits of every parameter and buffer, in layer order, and the counters.
    func stateBits(_ model: Model) -> [UInt64] {
        let tensors = model.layers.flatMap { $0.namedParameters + $0.namedBuffers }
        let values: [UInt64] = tensors.flatMap(\.tensor.values).map { UInt64($0.bitPattern) }
        let counters: [UInt64] = model.layers.flatMap(\.namedCounters).map {
            UInt64(bitPattern: $0.counter.value)
        }
        return values + counters
    }
}
