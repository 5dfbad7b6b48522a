import Foundation
import XCTest
@testable import DeepLearning

/// `Model.save(to:)` and `Model.load(from:)`: round trip, names and metadata, BatchNorm's
/// running statistics, the header's padding, and safe, atomic replacement of the file.
final class SafeTensorsTests: SafeTensorsTestCase {
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

    /// A negative counter, which no training makes, stops saving with a message.
    func testSavingANegativeCountStops() throws {
        let model = batchNormModel(seed: 1, steps: 1)
        try assertStops(withMessage: "num_batches_tracked: the count -1 is negative, a count no training makes") {
            model.layers[1].namedCounters[0].counter.value = -1
            try? model.save(to: path("negative.safetensors"))
        }
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
        assertThrows(.missingTensor(path: target, tensors: ["1.running_var"], unused: []),
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

    /// A link whose target's name is not UTF-8 (the byte 0xE9, "é" in Latin-1): saving
    /// replaces that very file, and creates no other.
    func testSavingThroughALinkToANameThatIsNotUTF8() throws {
        let name = Array("caf".utf8) + [0xE9] + Array(".safetensors".utf8)
        let target = (Array("\(directory.path)/".utf8) + name).map { CChar(bitPattern: $0) } + [0]
        try smallModel(seed: 1).save(to: path("old.safetensors"))
        XCTAssertEqual(rename(path("old.safetensors"), target), 0)
        XCTAssertEqual(symlink(target, path("link")), 0)
        try smallModel(seed: 2).save(to: path("link"))
        let restored = smallModel(seed: 9)
        try restored.load(from: path("link"))
        XCTAssertEqual(bits(restored), bits(smallModel(seed: 2)))
        XCTAssertEqual(try contents(of: directory.path).count, 2, "the link and its target")
        XCTAssertEqual(replacedEntry(of: path("link")).name.bytes, name)
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

    /// `checkReplaceable(at:)` throws, before anything is written, what saving would throw for
    /// the path itself, and accepts a path saving can write.
    func testCheckReplaceableNamesWhatSavingWouldRefuse() throws {
        let file = path("file")
        try Data([1]).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createDirectory(atPath: path("dir"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: path("to-dir"), withDestinationPath: path("dir"))
        let unwritable: [(String, String)] = [
            ("", "an empty path names no file"),
            (path("missing/model.safetensors"), "the directory \(path("missing")) does not exist"),
            ("\(file)/model.safetensors", "\(file) is not a directory"),
        ]
        for (target, reason) in unwritable {
            assertThrows(.unwritableFile(path: target, reason: reason), message: "cannot write \(target): \(reason)") {
                try checkReplaceable(at: target)
            }
            XCTAssertThrowsError(try smallModel(seed: 1).save(to: target), target)
        }
        for (target, kind) in [(path("dir"), "a directory"), (path("to-dir"), "a symbolic link to a directory, \(path("dir"))")] {
            assertThrows(.notARegularFile(path: target, kind: kind), message: "\(target) is \(kind), not a regular file") {
                try checkReplaceable(at: target)
            }
        }
        for target in [file, path("new.safetensors"), path("to-dir/model.safetensors")] {
            XCTAssertNoThrow(try checkReplaceable(at: target), target)
            XCTAssertNoThrow(try smallModel(seed: 1).save(to: target), target)
        }
        XCTAssertEqual(try contents(of: directory.path).sorted(), ["dir", "file", "new.safetensors", "to-dir"])
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
