import Foundation
import XCTest
@testable import DeepLearning

/// `loadLabelledCSV(from:)` and `parseLabelledCSV(_:source:)`: a good file and every error.
final class CSVTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

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

    /// The descriptor of the file being read is closed on exec: a process started meanwhile
    /// (by another thread) does not inherit it. The file is a FIFO, so that the read waits
    /// for its data while the test looks at the descriptor.
    func testTheFileBeingReadIsNotInheritedByNewProcesses() throws {
        let path = directory.appendingPathComponent("pipe.csv").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        let loaded = expectation(description: "loaded")
        Thread {
            XCTAssertEqual(try? loadLabelledCSV(from: path).labels, [0])
            loaded.fulfill()
        }.start()
        // Opening the FIFO for writing returns once the reader's open has begun; the reader's
        // descriptor appears in /proc/self/fd when its open returns, a moment later.
        let writer = open(path, O_WRONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(writer, 0)
        var readers: [Int32] = []
        for _ in 0..<1000 where readers.isEmpty {
            readers = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
                .compactMap { Int32($0) }
                .filter { descriptor in
                    descriptor != writer
                        && (try? FileManager.default.destinationOfSymbolicLink(
                            atPath: "/proc/self/fd/\(descriptor)")) == path
                }
            if readers.isEmpty { usleep(10_000) }
        }
        XCTAssertEqual(readers.count, 1)
        for reader in readers {
            XCTAssertNotEqual(fcntl(reader, F_GETFD) & FD_CLOEXEC, 0, "close-on-exec")
        }
        XCTAssertEqual(write(writer, "1,2,0\n", 6), 6)
        close(writer)
        wait(for: [loaded], timeout: 60)
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
    }

    /// A blank line before the end, the first one too, is named so.
    func testABlankRowBeforeTheEnd() {
        for (text, row) in [("1,2,0\n\n3,4,1\n", 2), ("\n1,2,0\n", 1), (" \t\r\n1,2,0\n", 1)] {
            assertThrows(.blankRow(path: "gap.csv", row: row),
                         message: "row \(row) of gap.csv is blank: every row holds the features, then the label (blank lines may only end the file)") {
                try parseLabelledCSV(text, source: "gap.csv")
            }
        }
    }

    /// A wide first row, then a megabyte of rows of one field: the first one throws, and
    /// nothing of the size of the first row's width times the lines is allocated.
    func testMemoryFollowsTheDataNotItsLinesTimesTheFirstRowsWidth() {
        let text = String(repeating: "0,", count: 100_000) + "0\n"
            + String(repeating: "0\n", count: 1_000_000)
        assertThrows(.fieldCountMismatch(path: "wide.csv", row: 2, count: 1, expected: 100_001),
                     message: "row 2 of wide.csv has 1 field but the first row has 100001") {
            try parseLabelledCSV(text, source: "wide.csv")
        }
    }

    func testAFieldThatIsNotANumber() throws {
        let path = try file("1,2,0\n3,x4,1\n")
        assertThrows(.invalidNumber(path: path, row: 2, column: 2, text: "x4"),
                     message: "\"x4\" in row 2, column 2 of \(path) is not a finite number") {
            try loadLabelledCSV(from: path)
        }
        for text in ["", "nan", "inf", "1.5.2"] {
            assertThrows(.invalidNumber(path: "s", row: 1, column: 1, text: text),
                         message: "\"\(text)\" in row 1, column 1 of s is not a finite number") {
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

    func testBytesInMemoryParseAsTheirText() throws {
        let text = "0.5,1,2\n-3, 4e-1 ,0\r\n"
        let fromText = try parseLabelledCSV(text, source: "s")
        for bytes in [Array(text.utf8), Array(("xx" + text).utf8).dropFirst(2).map { $0 }] {
            let fromBytes = try parseLabelledCSV(bytes, source: "s")
            XCTAssertEqual(fromBytes.inputs.values, fromText.inputs.values)
            XCTAssertEqual(fromBytes.labels, fromText.labels)
        }
        let slice = try parseLabelledCSV(Array("junk\n1,2,3\n".utf8)[5...], source: "s")
        XCTAssertEqual(slice.inputs.values, [1, 2])
        XCTAssertEqual(slice.labels, [3])
    }

    /// A byte order mark at the start is skipped; elsewhere it is shown escaped.
    func testALeadingByteOrderMarkIsSkipped() throws {
        let (inputs, labels) = try parseLabelledCSV("\u{FEFF}1,2,0\n", source: "s")
        XCTAssertEqual(inputs.values, [1, 2])
        XCTAssertEqual(labels, [0])
        assertThrows(.invalidNumber(path: "s", row: 2, column: 1, text: "\u{FEFF}3"),
                     message: "\"\\u{FEFF}3\" in row 2, column 1 of s is not a finite number") {
            try parseLabelledCSV("1,2,0\n\u{FEFF}3,4,1\n", source: "s")
        }
    }

    /// Control and invisible characters are shown escaped in messages: a bare carriage
    /// return, a tab inside a field, a zero-width space, a no-break space.
    func testInvisibleCharactersAreEscapedInMessages() {
        let cases = [("2\r3", "2\\r3"), ("2\t3", "2\\t3"), ("2\u{200B}", "2\\u{200B}"),
                     ("2\u{A0}3", "2\\u{A0}3"), ("\"2\"", "\\\"2\\\""), ("a\\b", "a\\\\b")]
        for (field, shown) in cases {
            assertThrows(.invalidNumber(path: "s", row: 2, column: 2, text: field),
                         message: "\"\(shown)\" in row 2, column 2 of s is not a finite number") {
                try parseLabelledCSV("1,2,0\n1,\(field),0\n", source: "s")
            }
        }
        assertThrows(.invalidLabel(path: "s", row: 1, column: 3, text: "1\r2"),
                     message: "the label \"1\\r2\" in row 1, column 3 of s is not an integer in 0...2147483647") {
            try parseLabelledCSV("1,2,1\r2\r\n", source: "s")
        }
    }

    func testANulByteInAFieldIsRefused() {
        for (text, row, column, field) in [("2\0abc,1\n", 1, 1, "2\0abc"), ("1,2\n3,4\0\n", 2, 2, "4\0")] {
            assertThrows(.nulInField(path: "s", row: row, column: column, text: field),
                         message: "\"\(field.replacingOccurrences(of: "\0", with: "\\0"))\" in row \(row), column \(column) of s holds a NUL byte: the text must be UTF-8 (UTF-16 text holds NULs)") {
                try parseLabelledCSV(text, source: "s")
            }
        }
    }

    /// UTF-16 text, whose NULs leave the commas in place, is named by its NULs, not taken
    /// for a header.
    func testUTF16TextIsNamedByItsNULs() {
        let bytes: [UInt8] = [0xFF, 0xFE] + "1,2,0\n3,4,1\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        assertThrows(.nulInField(path: "s", row: 1, column: 1, text: "\u{FFFD}\u{FFFD}1\0"),
                     message: "\"\u{FFFD}\u{FFFD}1\\0\" in row 1, column 1 of s holds a NUL byte: the text must be UTF-8 (UTF-16 text holds NULs)") {
            try parseLabelledCSV(bytes, source: "s")
        }
    }

    func testANumberBeyondFloatsRangeIsNamedSo() {
        for text in ["1e40", "-1e40", "1e400", "0x1p200", "340282370000000000000000000000000000000"] {
            assertThrows(.numberOutOfRange(path: "s", row: 1, column: 1, text: text),
                         message: "\"\(text)\" in row 1, column 1 of s is out of Float's range (magnitudes up to 3.4028235e+38)") {
                try parseLabelledCSV("\(text),2,0\n", source: "s")
            }
        }
        for text in ["inf", "-Infinity", "+INF"] {
            assertThrows(.invalidNumber(path: "s", row: 1, column: 1, text: text),
                         message: "\"\(text)\" in row 1, column 1 of s is not a finite number") {
                try parseLabelledCSV("\(text),2,0\n", source: "s")
            }
        }
        XCTAssertEqual(try parseLabelledCSV("3.4028235e38,1e-50,0", source: "s").inputs.values,
                       [.greatestFiniteMagnitude, 0])
    }

    func testAHeaderRowGetsAHint() {
        assertThrows(.headerRow(path: "iris.csv", text: "\u{FEFF}sepal length, width,species\r"),
                     message: "the first row of iris.csv, \"\\u{FEFF}sepal length, width,species\\r\", has no number: the file seems to have a header row, and it must not (every row holds the features, then the label)") {
            try parseLabelledCSV("\u{FEFF}\u{FEFF}sepal length, width,species\r\r\n5.1,3.5,0\n", source: "iris.csv")
        }
        // A first row with a number in it, or of empty fields, is data with a bad field.
        assertThrows(.invalidNumber(path: "s", row: 1, column: 1, text: ""),
                     message: "\"\" in row 1, column 1 of s is not a finite number") {
            try parseLabelledCSV(" , ,\n", source: "s")
        }
        assertThrows(.invalidNumber(path: "s", row: 1, column: 1, text: "x"),
                     message: "\"x\" in row 1, column 1 of s is not a finite number") {
            try parseLabelledCSV("x,2,0\n", source: "s")
        }
    }

    /// A pipe, whose size the system does not tell, is read to its end.
    func testPipeIsReadToItsEnd() throws {
        let pipe = Pipe()
        pipe.fileHandleForWriting.write(Data("1,2,0\n3,4,1\n".utf8))
        try pipe.fileHandleForWriting.close()
        let (inputs, labels) = try loadLabelledCSV(
            from: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
        XCTAssertEqual(inputs.shape, [2, 2])
        XCTAssertEqual(inputs.values, [1, 2, 3, 4])
        XCTAssertEqual(labels, [0, 1])
    }

    /// Reads are bounded: a device is refused, a file beyond the limit is refused before it
    /// is read, and one whose size the system does not tell is refused when the limit is hit.
    func testReadsAreBounded() throws {
        assertThrows(.notARegularFile(path: "/dev/zero", kind: "a character device"),
                     message: "/dev/zero is a character device, not a regular file") {
            try loadLabelledCSV(from: "/dev/zero")
        }
        let path = try file("1,2,0\n3,4,1\n")
        XCTAssertEqual(try readFile(at: path, sizeLimit: 12).count, 12)
        assertThrows(.fileTooLarge(path: path, limit: 11),
                     message: "\(path) is larger than 11 bytes, the most that is read from a file") {
            try readFile(at: path, sizeLimit: 11)
        }
        // /proc files report size 0: the limit stops the reading itself.
        assertThrows(.fileTooLarge(path: "/proc/self/maps", limit: 100),
                     message: "/proc/self/maps is larger than 100 bytes, the most that is read from a file") {
            try readFile(at: "/proc/self/maps", sizeLimit: 100)
        }
        XCTAssertEqual(labelledCSVSizeLimit, 1 << 30)
    }
}
