import Foundation

// Saving and loading a model's parameters in the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, N bytes
// of UTF-8 JSON mapping each tensor's name to its dtype, shape and data offsets (plus an optional
// "__metadata__" object of strings), then the tensors' little-endian bytes.

extension Model {
    /// Writes every layer's parameters and buffers (`namedBuffers`: `BatchNorm`'s running
    /// statistics) to `path` in the safetensors format, as F32, named by the layer's index in
    /// the model and the tensor's name ("0.weight", "0.bias", "1.running_mean", "2.weight",
    /// ...; like PyTorch's `state_dict` of an `nn.Sequential`, without BatchNorm's
    /// `num_batches_tracked`). The header's
    /// `__metadata__` names the library and lists the layers.
    ///
    /// The file is written in full to a temporary file beside `path`, flushed to disk and then
    /// renamed over `path`, so that `path` holds either its old contents or the whole new file,
    /// never part of it. Throws `DeepLearningError.unwritableFile` naming `path` when it cannot.
    ///
    /// ```swift
    /// try model.save(to: "spiral.safetensors")
    /// let copy = Model { Linear(2, 100); ReLU(); Linear(100, 3) }
    /// try copy.load(from: "spiral.safetensors")     // same predictions as `model`
    /// ```
    ///
    /// Python reads the file with `safetensors.numpy.load_file("spiral.safetensors")`.
    public func save(to path: String) throws {
        var entries: [String: Any] = [
            "__metadata__": [
                "format": "DeepLearning",
                "layers": layers.map(\.description).joined(separator: "; "),
            ],
        ]
        var offset = 0
        let tensors = namedTensors()
        for (name, tensor) in tensors {
            let size = 4 * tensor.count
            entries[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        var header = try JSONSerialization.data(withJSONObject: entries,
                                                options: [.sortedKeys, .withoutEscapingSlashes])
        // Pad with spaces so that the data starts at a multiple of 8 bytes, as the reference does.
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        for (_, tensor) in tensors {
            for value in UnsafeBufferPointer(start: tensor.value, count: tensor.count) {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        try replaceFile(at: path, with: bytes)
    }

    /// Sets every layer's parameters and buffers from the safetensors file at `path`, written by
    /// `save(to:)` or by any safetensors writer (such as Python's
    /// `safetensors.numpy.save_file`) under the same names ("0.weight", "0.bias", ...).
    ///
    /// The file must hold exactly the model's parameters and buffers: each as F32 with the
    /// tensor's shape. A tensor the model lacks is an error too (`unexpectedTensor`), since it means
    /// the file belongs to another architecture. The whole file is checked before any
    /// parameter changes: on any error the model is left as it was, and a `DeepLearningError`
    /// names the file and, where there is one, the tensor (the file cannot be read, is
    /// truncated, has a header that is not a JSON object of valid entries, lacks a tensor or
    /// has an extra one, or has a tensor of another dtype, shape or byte size).
    ///
    /// ```swift
    /// let model = Model { Linear(2, 100); ReLU(); Linear(100, 3) }
    /// try model.load(from: "spiral.safetensors")
    /// let classes = model.predict(inputs)
    /// ```
    public func load(from path: String) throws {
        let bytes = try readFile(at: path)
        let file = try SafeTensorsFile(bytes, path: path)
        var copies: [(tensor: Tensor, begin: Int)] = []
        let tensors = namedTensors()
        for (name, tensor) in tensors {
            copies.append((tensor, try file.dataStart + file.checkedOffset(of: name, shape: tensor.shape)))
        }
        let names = Set(tensors.map(\.name))
        if let extra = file.names.sorted().first(where: { !names.contains($0) }) {
            throw DeepLearningError.unexpectedTensor(path: path, tensor: extra)
        }
        bytes.withUnsafeBytes { raw in
            for (tensor, begin) in copies {
                for index in 0..<tensor.count {
                    let bits = raw.loadUnaligned(fromByteOffset: begin + 4 * index, as: UInt32.self)
                    tensor.value[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
        }
    }

    /// Every layer's parameters and buffers named "<layer index>.<name>", in layer order,
    /// each layer's parameters before its buffers.
    private func namedTensors() -> [(name: String, tensor: Tensor)] {
        let tensors = layers.enumerated().flatMap { index, layer in
            (layer.namedParameters + layer.namedBuffers).map {
                (name: "\(index).\($0.name)", tensor: $0.tensor)
            }
        }
        require(Set(tensors.map(\.name)).count == tensors.count,
                "Model: tensor names \(tensors.map(\.name)) are not unique; each layer's namedParameters and namedBuffers together must be")
        return tensors
    }
}

/// A safetensors file's header, parsed and checked against the file's size.
private struct SafeTensorsFile {
    let path: String
    /// The header's object: tensor names to entries, and perhaps "__metadata__".
    let entries: [String: Any]
    /// Where the data section starts: 8 + the header's length.
    let dataStart: Int
    /// The number of bytes after the header.
    let dataSize: Int

    /// The tensors' names (the header's keys but "__metadata__").
    var names: [String] { entries.keys.filter { $0 != "__metadata__" } }

    init(_ bytes: [UInt8], path: String) throws {
        self.path = path
        guard bytes.count >= 8 else {
            throw DeepLearningError.truncatedHeader(path: path, size: bytes.count, headerLength: nil)
        }
        let headerLength = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw DeepLearningError.truncatedHeader(path: path, size: bytes.count,
                                                    headerLength: headerLength)
        }
        dataStart = 8 + Int(headerLength)
        dataSize = bytes.count - dataStart
        let header = bytes[8..<dataStart]
        func invalid(_ problem: String) -> DeepLearningError {
            .invalidHeader(path: path, problem: problem)
        }
        guard String(validating: header, as: UTF8.self) != nil else {
            throw invalid("it is not valid UTF-8")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(header)) else {
            throw invalid("it is not valid JSON")
        }
        guard let entries = json as? [String: Any] else {
            throw invalid("it is \(jsonText(json)), not a JSON object")
        }
        if let metadata = entries["__metadata__"], !(metadata is [String: String]) {
            throw invalid("its __metadata__ \(jsonText(metadata)) is not an object of strings")
        }
        self.entries = entries
    }

    /// The data offset at which tensor `name` begins, after checking that its entry is valid,
    /// of dtype F32, of `shape`, 4 bytes per element, and within the file.
    func checkedOffset(of name: String, shape: [Int]) throws -> Int {
        guard let value = entries[name] else {
            throw DeepLearningError.missingTensor(path: path, tensor: name)
        }
        func invalid(_ problem: String) -> DeepLearningError {
            .invalidTensorEntry(path: path, tensor: name, problem: problem)
        }
        guard let entry = value as? [String: Any] else {
            throw invalid("it is \(jsonText(value)), not a JSON object")
        }
        for key in ["dtype", "shape", "data_offsets"] where entry[key] == nil {
            throw invalid("it lacks \"\(key)\"")
        }
        guard let dtype = entry["dtype"] as? String else {
            throw invalid("its dtype \(jsonText(entry["dtype"]!)) is not a string")
        }
        guard let fileShape = integers(entry["shape"]!) else {
            throw invalid("its shape \(jsonText(entry["shape"]!)) is not a list of non-negative integers")
        }
        guard let offsets = integers(entry["data_offsets"]!), offsets.count == 2,
              offsets[0] <= offsets[1]
        else {
            throw invalid("its data_offsets \(jsonText(entry["data_offsets"]!)) are not two integers 0 ≤ begin ≤ end")
        }
        guard dtype == "F32" else {
            throw DeepLearningError.unsupportedDType(path: path, tensor: name, dtype: dtype)
        }
        guard fileShape == shape else {
            throw DeepLearningError.shapeMismatch(path: path, tensor: name, shape: fileShape,
                                                  expected: shape)
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard end - begin == 4 * shape.reduce(1, *) else {
            throw DeepLearningError.dataSizeMismatch(path: path, tensor: name, begin: begin,
                                                     end: end, shape: shape)
        }
        guard end <= dataSize else {
            throw DeepLearningError.truncatedTensor(path: path, tensor: name, end: end,
                                                    dataSize: dataSize)
        }
        return begin
    }
}

/// `value` as a list of non-negative JSON integers (not floats, not booleans), or nil.
private func integers(_ value: Any) -> [Int]? {
    guard let array = value as? [Any] else { return nil }
    var result: [Int] = []
    for element in array {
        // JSONSerialization gives NSNumbers; "c" is a boolean's type, "d" and "f" floats'.
        guard let number = element as? NSNumber,
              !["c", "d", "f"].contains(String(cString: number.objCType)),
              let integer = number as? Int, integer >= 0
        else { return nil }
        result.append(integer)
    }
    return result
}

/// `value` written as JSON, for messages.
private func jsonText(_ value: Any) -> String {
    guard let data = try? JSONSerialization.data(
        withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
    else { return "\(value)" }
    return String(decoding: data, as: UTF8.self)
}

/// The system's description of the last error (`errno`).
private func systemError() -> String { String(cString: strerror(errno)) }

/// The whole contents of the file at `path`.
private func readFile(at path: String) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw DeepLearningError.unreadableFile(path: path, reason: systemError())
    }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count == 0 { return bytes }
        if count < 0 {
            if errno == EINTR { continue }
            throw DeepLearningError.unreadableFile(path: path, reason: systemError())
        }
        bytes.append(contentsOf: chunk[..<count])
    }
}

/// Writes `bytes` to a new temporary file beside `path`, flushes it to disk and renames it
/// over `path`; removes the temporary file when any step fails.
private func replaceFile(at path: String, with bytes: [UInt8]) throws {
    let temporary = "\(path).\(UInt32.random(in: .min ... .max)).tmp"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw DeepLearningError.unwritableFile(path: path, reason: systemError())
    }
    var written = 0
    var failure: String?
    while written < bytes.count && failure == nil {
        let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if count >= 0 { written += count } else if errno != EINTR { failure = systemError() }
    }
    if failure == nil && fsync(descriptor) != 0 { failure = systemError() }
    if close(descriptor) != 0 && failure == nil { failure = systemError() }
    if failure == nil && rename(temporary, path) != 0 { failure = systemError() }
    if let failure {
        unlink(temporary)
        throw DeepLearningError.unwritableFile(path: path, reason: failure)
    }
}
