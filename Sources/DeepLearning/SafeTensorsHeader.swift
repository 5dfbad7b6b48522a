import Foundation

// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of UTF-8 JSON mapping each tensor's name to its dtype, shape and
// data offsets (plus an optional "__metadata__" object of strings), then the data section: the
// tensors' bytes, which must tile it exactly. The checks below are Python's safetensors'.

/// The element types of the safetensors format, with their sizes in bits (F4 and the F6
/// types pack elements across bytes).
enum SafeTensorsDType: String {
    case bool = "BOOL", f4 = "F4", f6E2M3 = "F6_E2M3", f6E3M2 = "F6_E3M2"
    case u8 = "U8", i8 = "I8", f8E5M2 = "F8_E5M2", f8E4M3 = "F8_E4M3", f8E8M0 = "F8_E8M0"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case c64 = "C64", f64 = "F64", i64 = "I64", u64 = "U64"

    var bits: Int {
        switch self {
        case .f4: 4
        case .f6E2M3, .f6E3M2: 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0: 8
        case .i16, .u16, .f16, .bf16: 16
        case .i32, .u32, .f32: 32
        case .c64, .f64, .i64, .u64: 64
        }
    }
}

/// One tensor's entry in a safetensors header: its data is bytes `begin..<end` of the data
/// section.
struct SafeTensorsEntry {
    let dtype: SafeTensorsDType
    let shape: [Int]
    let begin: Int
    let end: Int
}

/// A safetensors header, parsed and checked as Python's safetensors checks it: a JSON object
/// (no byte-order mark before it) of valid entries and string metadata, whose tensors' bytes
/// tile the data section exactly, in order, with no overlap, no gap and no trailing bytes,
/// each as long as its shape in its dtype.
struct SafeTensorsHeader {
    /// The largest header Python's safetensors reads: 100 MB.
    static let maximumLength = 100_000_000

    /// The "__metadata__" object (empty when there is none).
    let metadata: [String: String]
    /// The tensors by name.
    let entries: [String: SafeTensorsEntry]

    /// The header length that `prefix`, an image's first 8 bytes, announces, after checking it
    /// against `maximumLength` and against the `imageSize` bytes of the image. `source` names
    /// the image in errors.
    static func length(announcedBy prefix: ArraySlice<UInt8>, imageSize: Int,
                       source: String) throws -> Int {
        let length = prefix.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(maximumLength) else {
            throw DeepLearningError.headerTooLarge(path: source, headerLength: length,
                                                   limit: maximumLength)
        }
        guard Int(length) <= imageSize - 8 else {
            throw DeepLearningError.truncatedHeader(path: source, size: imageSize,
                                                    headerLength: length)
        }
        return Int(length)
    }

    /// Parses the header `json` of an image whose data section has `dataSize` bytes and checks
    /// every entry and the tiling of the data; `source` names the image in errors.
    init(_ json: ArraySlice<UInt8>, dataSize: Int, source: String) throws {
        func invalid(_ problem: String) -> DeepLearningError {
            .invalidHeader(path: source, problem: problem)
        }
        guard String(validating: json, as: UTF8.self) != nil else {
            throw invalid("it is not valid UTF-8")
        }
        guard !json.starts(with: [0xEF, 0xBB, 0xBF]) else {
            throw invalid("it starts with a UTF-8 byte-order mark (EF BB BF) before its \"{\"")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json))
        } catch {
            // The parser's reason ("Invalid value around character 5.") is in the debug
            // description; the error's own description is a generic "not in the correct format".
            let error = error as NSError
            let reason = error.userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            throw invalid("it is not valid JSON (\(reason.escapedForMessage))")
        }
        guard var values = object as? [String: Any] else {
            throw invalid("it is \(jsonText(object)), not a JSON object")
        }
        switch values.removeValue(forKey: "__metadata__") {
        case nil, is NSNull: metadata = [:]
        case let metadata as [String: String]: self.metadata = metadata
        case let other?: throw invalid("its __metadata__ \(jsonText(other)) is not an object of strings")
        }
        var entries: [String: SafeTensorsEntry] = [:]
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            entries[name] = try SafeTensorsEntry(value, tensor: name, source: source)
        }
        self.entries = entries
        try checkTiling(dataSize: dataSize, source: source)
    }

    /// Checks that the entries, in the order of their offsets, cover the `dataSize` bytes of
    /// the data section exactly, each with the bytes of its shape in its dtype.
    private func checkTiling(dataSize: Int, source: String) throws {
        let ordered = entries.sorted { ($0.value.begin, $0.value.end, $0.key) < ($1.value.begin, $1.value.end, $1.key) }
        var previous: (name: String, entry: SafeTensorsEntry)?
        for (name, entry) in ordered {
            let expectedBegin = previous?.entry.end ?? 0
            if entry.begin < expectedBegin, let previous {
                throw DeepLearningError.overlappingTensors(
                    path: source, tensor: name, begin: entry.begin, end: entry.end,
                    previous: previous.name, previousBegin: previous.entry.begin,
                    previousEnd: previous.entry.end)
            }
            if entry.begin > expectedBegin {
                throw DeepLearningError.unclaimedBytes(path: source, begin: expectedBegin,
                                                       end: entry.begin, after: previous?.name,
                                                       before: name)
            }
            let byteCount = try entry.byteCount(tensor: name, source: source)
            guard entry.end - entry.begin == byteCount else {
                throw DeepLearningError.dataSizeMismatch(
                    path: source, tensor: name, dtype: entry.dtype.rawValue, begin: entry.begin,
                    end: entry.end, shape: entry.shape, byteCount: byteCount)
            }
            previous = (name, entry)
        }
        let end = previous?.entry.end ?? 0
        if end > dataSize, let previous {
            throw DeepLearningError.truncatedTensor(path: source, tensor: previous.name, end: end,
                                                    dataSize: dataSize)
        }
        if end < dataSize {
            throw DeepLearningError.unclaimedBytes(path: source, begin: end, end: dataSize,
                                                   after: previous?.name, before: nil)
        }
    }
}

extension SafeTensorsEntry {
    /// The entry of `tensor` in JSON `value`, after checking that it is an object with a known
    /// dtype, a shape of non-negative integers and two data offsets 0 ≤ begin ≤ end.
    init(_ value: Any, tensor: String, source: String) throws {
        func invalid(_ problem: String) -> DeepLearningError {
            .invalidTensorEntry(path: source, tensor: tensor, problem: problem)
        }
        guard let entry = value as? [String: Any] else {
            throw invalid("it is \(jsonText(value)), not a JSON object")
        }
        for key in ["dtype", "shape", "data_offsets"] where entry[key] == nil {
            throw invalid("it lacks \"\(key)\"")
        }
        guard let name = entry["dtype"] as? String else {
            throw invalid("its dtype \(jsonText(entry["dtype"]!)) is not a string")
        }
        guard let shape = integers(entry["shape"]!) else {
            throw invalid("its shape \(jsonText(entry["shape"]!)) is not a list of non-negative integers")
        }
        guard let offsets = integers(entry["data_offsets"]!), offsets.count == 2,
              offsets[0] <= offsets[1]
        else {
            throw invalid("its data_offsets \(jsonText(entry["data_offsets"]!)) are not two integers 0 ≤ begin ≤ end")
        }
        guard let dtype = SafeTensorsDType(rawValue: name) else {
            throw invalid("its dtype \(jsonText(name)) is not a safetensors dtype")
        }
        self.init(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// The bytes of its shape in its dtype; throws `invalidTensorEntry` when they overflow
    /// `Int` or end inside a byte.
    func byteCount(tensor: String, source: String) throws -> Int {
        func invalid(_ problem: String) -> DeepLearningError {
            .invalidTensorEntry(path: source, tensor: tensor, problem: problem)
        }
        var bits = dtype.bits
        for size in shape {
            let (product, overflow) = bits.multipliedReportingOverflow(by: size)
            guard !overflow else { throw invalid("its shape \(shape) has too many elements") }
            bits = product
        }
        guard bits % 8 == 0 else {
            throw invalid("its shape \(shape) in \(dtype.rawValue) does not end on a whole byte")
        }
        return bits / 8
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
