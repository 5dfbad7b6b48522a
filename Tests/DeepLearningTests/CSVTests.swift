import Foundation
import XCTest
@testable import DeepLearning

/// `loadLabelledCSV(from:)` and `parseLabelledCSV(_:source:)`: a good file and every error.
final class CSVTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("CSVTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    /// Writes `text` to a new file in the test's directory and returns its path.
    private func file(_ text: String, named name: String = "data.csv") throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testAGoodFileGivesItsFeaturesAndLabels() throws {
        let path = try file("0.5,1,2\n-3, 4e-1 ,0\r\n7,8,12\n\n")
        let (inputs, labels) = try loadLabelledCSV(from: path)
        XCTAssertEqual(inputs.shape, [3, 2])
        XCTAssertEqual(inputs.values, [0.5, 1, -3, 0.4, 7, 8])
        XCTAssertEqual(labels, [2, 0, 12])
    }

    func testParsingTextGivesTheSameAsTheFile() throws {
        let (inputs, labels) = try parseLabelledCSV("1,2,3\n4,5,6", source: "inline")
        XCTAssertEqual(inputs.shape, [2, 2])
        XCTAssertEqual(inputs.values, [1, 2, 4, 5])
        XCTAssertEqual(labels, [3, 6])
    }

    func testAMissingFileIsUnreadable() {
        let path = directory.appendingPathComponent("absent.csv").path
        assertThrows(.unreadableFile(path: path, reason: "No such file or directory"),
                     message: "cannot read \(path): No such file or directory") {
            try loadLabelledCSV(from: path)
        }
    }

    func testADirectoryIsUnreadable() {
        let path = directory.path
        assertThrows(.unreadableFile(path: path, reason: "Is a directory"),
                     message: "cannot read \(path): Is a directory") {
            try loadLabelledCSV(from: path)
        }
    }

    func testAnEmptyFile() throws {
        for text in ["", "\n", "\n  \n"] {
            let path = try file(text)
            assertThrows(.emptyFile(path: path), message: "\(path) is empty: it has no rows") {
                try loadLabelledCSV(from: path)
            }
        }
    }

    func testRowsWithALabelButNoFeatures() {
        assertThrows(.missingFeatures(path: "labels.csv"),
                     message: "the rows of labels.csv have a single field: a label needs at least one feature before it") {
            try parseLabelledCSV("1\n2\n", source: "labels.csv")
        }
    }

    func testARowWithAnotherNumberOfFields() throws {
        let path = try file("1,2,0\n3,4,1\n5,1\n")
        assertThrows(.fieldCountMismatch(path: path, row: 3, count: 2, expected: 3),
                     message: "row 3 of \(path) has 2 fields but the first row has 3") {
            try loadLabelledCSV(from: path)
        }
        // A blank line before the end is a row of one field.
        assertThrows(.fieldCountMismatch(path: "gap.csv", row: 2, count: 1, expected: 3),
                     message: "row 2 of gap.csv has 1 field but the first row has 3") {
            try parseLabelledCSV("1,2,0\n\n3,4,1\n", source: "gap.csv")
        }
    }

    func testAFieldThatIsNotANumber() throws {
        let path = try file("1,2,0\n3,x4,1\n")
        assertThrows(.invalidNumber(path: path, row: 2, column: 2, text: "x4"),
                     message: "\"x4\" in row 2, column 2 of \(path) is not a number") {
            try loadLabelledCSV(from: path)
        }
        for text in ["", "nan", "inf", "1.5.2"] {
            assertThrows(.invalidNumber(path: "s", row: 1, column: 1, text: text),
                         message: "\"\(text)\" in row 1, column 1 of s is not a number") {
                try parseLabelledCSV("\(text),2,0\n", source: "s")
            }
        }
    }

    func testALabelThatIsNotANonNegativeInt32() throws {
        for label in ["-1", "1.5", "two", "2147483648", ""] {
            let path = try file("1,2,0\n3,4,\(label)\n")
            assertThrows(.invalidLabel(path: path, row: 2, column: 3, text: label),
                         message: "the label \"\(label)\" in row 2, column 3 of \(path) is not an integer in 0...2147483647") {
                try loadLabelledCSV(from: path)
            }
        }
        XCTAssertEqual(try parseLabelledCSV("1,2147483647", source: "s").labels, [Int32.max])
    }
}
