import DeepLearning
import Foundation
import XCTest

/// The `spiral` and `digits` executables, run as a user runs them: options beyond their bounds
/// get a message (not a crash), a bad `--save` fails before training, and a failed picture
/// write keeps the previous picture.
final class ExampleCommandTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

    /// The example's executable, built beside this test bundle by `swift build --build-tests`.
    private func executable(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("\(path) is not built")
        }
        return path
    }

    /// Runs `command` (through bash, for `ulimit`) in the test's directory; returns its exit
    /// status, standard output and standard error.
    private func run(_ command: String) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let (output, error) = (Pipe(), Pipe())
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let errorText = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let outputText = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, outputText, errorText)
    }

    /// Asserts that `arguments` make the example stop with a usage error (exit status 64)
    /// whose message contains `message`.
    private func assertRefused(_ example: String, _ arguments: String, message: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try run("\(try executable(example)) \(arguments)")
        XCTAssertEqual(result.status, 64, "\(example) \(arguments): \(result.error)", file: file, line: line)
        XCTAssertTrue(result.error.contains(message), "\(example) \(arguments): \(result.error)",
                      file: file, line: line)
    }

    func testOptionsBeyondTheirBoundsGetAMessage() throws {
        // Above the library's maximum: the option's message, not the library's stop.
        let tooMany = Threads.maximumCount + 1
        try assertRefused("spiral", "--threads \(tooMany)",
                          message: "--threads must be in 1...\(Threads.maximumCount), got \(tooMany)")
        try assertRefused("spiral", "--threads 3000000000",
                          message: "--threads must be in 1...\(Threads.maximumCount), got 3000000000")
        try assertRefused("spiral", "--hidden-units 9223372036854775807",
                          message: "--hidden-units must be in 1...100000, got 9223372036854775807")
        try assertRefused("spiral", "--epochs 1000000000000",
                          message: "--epochs must be in 1...1000000, got 1000000000000")
        try assertRefused("digits", "--threads 3000000000",
                          message: "--threads must be in 1...\(Threads.maximumCount), got 3000000000")
        try assertRefused("digits", "--epochs 1000000000000",
                          message: "--epochs must be in 1...1000000, got 1000000000000")
    }

    /// `--save` into a missing directory fails before the data is read (here: a data file that
    /// does not exist either) and training starts.
    func testDigitsChecksTheSavePathBeforeTraining() throws {
        let result = try run("\(try executable("digits")) --data absent.csv --epochs 1 --save missing/model.safetensors")
        XCTAssertEqual(result.status, 1, result.error)
        XCTAssertEqual(result.output, "")
        XCTAssertTrue(result.error.contains("cannot write missing/model.safetensors: the directory missing does not exist"),
                      result.error)
    }

    /// A picture write that fails (here on a file size limit) leaves the previous picture and
    /// no temporary file; one that succeeds replaces it and keeps its permissions, and a new
    /// picture gets the umask's.
    func testAFailedPictureWriteKeepsThePreviousPicture() throws {
        let spiral = try executable("spiral")
        let picture = directory.appendingPathComponent("spiral.png")
        try Data("previous".utf8).write(to: picture)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: picture.path)
        // 4 KiB: room for OpenMP's shared-memory file, not for the 480×480 picture.
        let failed = try run("ulimit -f 4; trap '' XFSZ; exec \(spiral) --epochs 1 --output spiral.png")
        XCTAssertEqual(failed.status, 1, failed.error)
        XCTAssertTrue(failed.error.contains("cannot write spiral.png: File too large"), failed.error)
        XCTAssertEqual(try Data(contentsOf: picture), Data("previous".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["spiral.png"])

        let written = try run("\(spiral) --epochs 1 --output spiral.png")
        XCTAssertEqual(written.status, 0, written.error)
        XCTAssertEqual(try Data(contentsOf: picture).prefix(4), Data([0x89, 0x50, 0x4E, 0x47]))
        XCTAssertEqual(try permissions(of: picture), 0o640, "the replaced picture's")

        let new = try run("\(spiral) --epochs 1 --output new.png")
        XCTAssertEqual(new.status, 0, new.error)
        let mask = umask(0)
        umask(mask)
        XCTAssertEqual(try permissions(of: directory.appendingPathComponent("new.png")),
                       Int(0o666 & ~mask), "as a new file, not the temporary's 0600")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["new.png", "spiral.png"])
    }

    /// The permission bits of `file` (0o640 for rw-r-----).
    private func permissions(of file: URL) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
    }
}
