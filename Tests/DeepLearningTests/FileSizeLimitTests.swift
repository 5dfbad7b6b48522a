import Foundation
import XCTest
@testable import DeepLearning

/// Saving past the process's file size limit (`RLIMIT_FSIZE`) with SIGXFSZ at its default
/// action, which ends the process: the save throws instead, leaves the previous file and no
/// temporary file, and leaves the thread's signal mask as it was.
final class FileSizeLimitTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

    func testASaveBeyondTheFileSizeLimitThrowsAndLeavesNoTemporaryFile() throws {
        let path = directory.appendingPathComponent("model.safetensors").path
        try Data("previous".utf8).write(to: URL(fileURLWithPath: path))
        let model = Model { Linear(2, 64); ReLU(); Linear(64, 3) }
        model.initializeParameters(seed: 1)

        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        var small = limit
        small.rlim_cur = 1000
        let previousHandler = signal(SIGXFSZ, SIG_DFL)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
        let reason = String(cString: strerror(EFBIG))
        assertThrows(.unwritableFile(path: path, reason: reason),
                     message: "cannot write \(path): \(reason)") { try model.save(to: path) }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        signal(SIGXFSZ, previousHandler)

        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("previous".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path),
                       ["model.safetensors"])
        var mask = sigset_t()
        XCTAssertEqual(pthread_sigmask(SIG_BLOCK, nil, &mask), 0)
        XCTAssertEqual(sigismember(&mask, SIGXFSZ), 0, "SIGXFSZ is unblocked again")
        var pending = sigset_t()
        XCTAssertEqual(sigpending(&pending), 0)
        XCTAssertEqual(sigismember(&pending, SIGXFSZ), 0, "no SIGXFSZ left to deliver")
    }
}
