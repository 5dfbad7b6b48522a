import Foundation
import XCTest
@testable import DeepLearning

/// `Model.load(from:)` on bad files: every load error with its message, the model left
/// unchanged; a data section the tensors must tile exactly; reads bounded before they start.
final class SafeTensorsLoadErrorTests: SafeTensorsTestCase {
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
        // The parser's reason, as Foundation words it ("Unexpected end of file during JSON
        // parse.").
        let json = Array("{\"0.weight\": ".utf8)
        var reason = ""
        XCTAssertThrowsError(try JSONSerialization.jsonObject(with: Data(json))) {
            reason = ($0 as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
        }
        XCTAssertFalse(reason.isEmpty, "Foundation gives no reason")
        try assertLoadFails(file(header: json, data: []),
                            { .invalidHeader(path: $0, problem: "it is not valid JSON (\(reason))") },
                            message: { "the header of \($0) is invalid: it is not valid JSON (\(reason))" })
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

    /// A file whose names all carry a prefix (PyTorch's `DataParallel` saves "module.0.weight")
    /// lists every missing tensor and the file's names beside them, and names the prefix.
    func testNamesWithAPrefixAreListedAndThePrefixNamed() throws {
        try assertLoadFails(changing: { entries in
            for name in Array(entries.keys) where name != "__metadata__" {
                entries["module." + name] = entries.removeValue(forKey: name)
            }
        }, { .missingTensor(path: $0, tensors: ["0.weight", "0.bias", "2.weight", "2.bias"],
                            unused: ["module.0.bias", "module.0.weight", "module.2.bias", "module.2.weight"]) },
           message: { "4 tensors \"0.weight\", \"0.bias\", \"2.weight\", \"2.bias\" of the model are missing from \($0); it has \"module.0.bias\", \"module.0.weight\", \"module.2.bias\", \"module.2.weight\", which the model has no tensor of that name for (the file's names start with \"module.\": strip it to load them)" })
        // A name that ends with a missing one under another prefix ("1" + "0.weight") is not
        // taken for the prefix; the list of unused names is cut after four.
        let (entries, data) = try savedParts()
        var prefixed = entries.filter { $0.key == "__metadata__" }
        for (name, entry) in entries where name != "__metadata__" { prefixed["module." + name] = entry }
        prefixed["10.weight"] = entries["0.weight"]
        try assertLoadFails(try retiledFile(entries: prefixed, data: data),
                            { .missingTensor(path: $0, tensors: ["0.weight", "0.bias", "2.weight", "2.bias"],
                                             unused: ["10.weight", "module.0.bias", "module.0.weight", "module.2.bias", "module.2.weight"]) },
                            message: { "4 tensors \"0.weight\", \"0.bias\", \"2.weight\", \"2.bias\" of the model are missing from \($0); it has \"10.weight\", \"module.0.bias\", \"module.0.weight\", \"module.2.bias\" and 1 more, which the model has no tensor of that name for (the file's names start with \"module.\": strip it to load them)" })
    }

    /// Long lists of names are cut after four, with a count of the rest.
    func testListsOfNamesInMessagesAreCut() {
        XCTAssertEqual(quotedList(["a", "b", "c", "d"]), "\"a\", \"b\", \"c\", \"d\"")
        XCTAssertEqual(quotedList(["a", "b", "c", "d", "e", "f"]),
                       "\"a\", \"b\", \"c\", \"d\" and 2 more")
    }

    func testMissingAndUnexpectedTensors() throws {
        let (entries, data) = try savedParts()
        var missing = entries
        missing["0.bias"] = nil
        try assertLoadFails(try retiledFile(entries: missing, data: data),
                            { .missingTensor(path: $0, tensors: ["0.bias"], unused: []) },
                            message: { "tensor \"0.bias\" of the model is missing from \($0)" })
        var both = entries
        both["0.bias"] = nil
        both["2.weight"] = nil
        both["0.bias.extra"] = entries["0.bias"]
        try assertLoadFails(try retiledFile(entries: both, data: data),
                            { .missingTensor(path: $0, tensors: ["0.bias", "2.weight"], unused: ["0.bias.extra"]) },
                            message: { "2 tensors \"0.bias\", \"2.weight\" of the model are missing from \($0); it has \"0.bias.extra\", which the model has no tensor of that name for" })
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

    /// A `num_batches_tracked` that no training reaches (below 0, above 2⁵³) is refused and
    /// changes nothing; 2⁵³ loads, and training counts on from it and saves.
    func testCountsNoTrainingReachesAreRefused() throws {
        let source = path("counter.safetensors")
        try batchNormModel(seed: 1, steps: 1).save(to: source)
        let (entries, data) = try parts(of: source)
        let offset = try XCTUnwrap(
            (entries["1.num_batches_tracked"] as? [String: Any])?["data_offsets"] as? [Int]).first!
        func file(counting count: Int64) throws -> String {
            var bytes = data
            withUnsafeBytes(of: count.littleEndian) { bytes.replaceSubrange(offset..<offset + 8, with: $0) }
            let target = path("count \(count).safetensors")
            try Data(try self.file(entries: entries, data: bytes)).write(to: URL(fileURLWithPath: target))
            return target
        }
        let model = batchNormModel(seed: 2, steps: 2)
        let before = stateBits(model)
        for count in [-1, (1 << 53) + 1, .max] as [Int64] {
            let target = try file(counting: count)
            assertThrows(.invalidCount(path: target, tensor: "1.num_batches_tracked", count: count),
                         message: "tensor \"1.num_batches_tracked\" in \(target) holds the count \(count), which no training reaches (a count is 0 through 2^53)") {
                try model.load(from: target)
            }
            XCTAssertEqual(stateBits(model), before, "a failed load changes nothing")
        }
        try model.load(from: try file(counting: 1 << 53))
        _ = model.forward(Tensor(shape: [2, 2], values: [0, 1, 2, 3]))
        XCTAssertEqual(model.layers[1].namedCounters.map(\.counter.value), [(1 << 53) + 1])
        try model.save(to: path("counted on.safetensors"))
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
                                message: { "the header of \($0) announces \(length) bytes, more than the 100000000 a safetensors header may have: it is probably not a safetensors file (PyTorch's torch.save writes a zip archive; safetensors.torch.save_file writes safetensors)" })
        }
    }

    /// A file of PyTorch's `torch.save` (a zip archive: "PK\u{3}\u{4}" first) is reported as
    /// probably not a safetensors file, beside the length its first 8 bytes announce.
    func testAZipArchiveIsReportedAsProbablyNotSafetensors() throws {
        let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x08] + [UInt8](repeating: 0, count: 64)
        let length = zip[..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        try assertLoadFails(zip, { .headerTooLarge(path: $0, headerLength: length, limit: 100_000_000) },
                            message: { "the header of \($0) announces 578712552184433488 bytes, more than the 100000000 a safetensors header may have: it is probably not a safetensors file (PyTorch's torch.save writes a zip archive; safetensors.torch.save_file writes safetensors)" })
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
}
