import DeepLearning
import Foundation
import XCTest

/// Asserts that `body` throws `expected` and that its message reads `message`.
func assertThrows<T>(_ expected: DeepLearningError, message: String, _ body: () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertEqual(error as? DeepLearningError, expected, file: file, line: line)
        XCTAssertEqual("\(error)", message, file: file, line: line)
    }
}

extension XCTestCase {
    /// A new, empty directory for this test, removed with its contents when the test ends.
    func makeTemporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }
}
