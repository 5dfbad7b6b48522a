#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The largest file, in bytes, that `loadLabelledCSV(from:)` reads: 1 GiB. A larger file, or
/// a pipe that goes on past it, throws `DeepLearningError.fileTooLarge` instead of exhausting
/// the memory.
public let labelledCSVSizeLimit = 1 << 30

/// Reads a labelled data set from the CSV file at `path`: each row holds numeric features
/// followed by an integer label in its last column, no header. Returns the features as
/// `[rows, features]` and the labels in row order.
///
/// ```swift
/// let (inputs, labels) = try loadLabelledCSV(from: "iris.csv")   // [150, 4], 150 labels
/// ```
///
/// Throws `DeepLearningError` when the file cannot be read (a directory), is a device
/// (`notARegularFile`: a device such as `/dev/zero` may never end), holds more than
/// `labelledCSVSizeLimit` bytes, or as `parseLabelledCSV(_:source:)` does. A pipe is read to
/// its end.
public func loadLabelledCSV(from path: String) throws -> (inputs: Tensor, labels: [Int32]) {
    try parseLabelledCSV(try readFile(at: path, sizeLimit: labelledCSVSizeLimit), source: path)
}

/// The bytes of the file at `path`; throws when it cannot be read, is a device, or holds more
/// than `sizeLimit` bytes (checked before reading when the system knows the size, and while
/// reading for files that do not tell it, such as pipes and `/proc` files).
func readFile(at path: String, sizeLimit: Int) throws -> [UInt8] {
    // "e": close-on-exec, as every file the library opens, so that a process that another
    // thread starts meanwhile does not inherit the descriptor.
    guard let file = fopen(path, "rbe") else {
        throw DeepLearningError.unreadableFile(path: path, reason: systemError())
    }
    defer { fclose(file) }
    var status = stat()
    if fstat(fileno(file), &status) == 0 {
        let type = status.st_mode & S_IFMT
        if type == S_IFCHR || type == S_IFBLK {
            throw DeepLearningError.notARegularFile(path: path, kind: fileKind(status.st_mode))
        }
        if Int(status.st_size) > sizeLimit {
            throw DeepLearningError.fileTooLarge(path: path, limit: sizeLimit)
        }
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        guard bytes.count + count <= sizeLimit else {
            throw DeepLearningError.fileTooLarge(path: path, limit: sizeLimit)
        }
        bytes.append(contentsOf: chunk[..<count])
        if count < chunk.count { break }
    }
    if ferror(file) != 0 {
        throw DeepLearningError.unreadableFile(path: path, reason: systemError())
    }
    return bytes
}

/// Parses CSV `text` whose rows hold numeric features followed by an integer label in the
/// last column (no header), for text read by the caller (decompressed, downloaded, in a test).
/// `source` names the text in error messages, e.g. its file's path. The same as
/// `parseLabelledCSV(_:source:)` on `text.utf8`.
public func parseLabelledCSV(_ text: String, source: String) throws
    -> (inputs: Tensor, labels: [Int32])
{
    try parseLabelledCSV(text.utf8, source: source)
}

/// Parses CSV `bytes` (UTF-8) whose rows hold numeric features followed by an integer label
/// in the last column (no header). `source` names the data in error messages, e.g. its file's
/// path.
///
/// ```swift
/// let (inputs, labels) = try parseLabelledCSV(Array("1,2,0\n3,4,1\n".utf8), source: "inline")
/// ```
///
/// Fields are separated by commas and may have spaces or tabs around them; rows end with `\n`
/// or `\r\n`, and blank lines at the end are ignored (one before the end throws). A UTF-8
/// byte order mark at the start is skipped. Every row must have as many fields as the first
/// one (at least two: one feature and the label). Rows are checked as they are read, so that
/// the memory taken is a small multiple of the data's size. Throws `DeepLearningError` when
/// the data has no rows, a field holds a NUL byte (checked first in each row: UTF-16 text
/// holds them), a row is blank (spaces and tabs only), the first row looks like a header
/// (text, but no field that is a number), a row has another number of fields, a feature is not a finite number or is beyond `Float`'s range, or a label is not
/// an integer in `0...Int32.max`; the message names `source`, the row and the column (both
/// from 1) and the offending text, with control and invisible characters escaped (`"\r"`,
/// `"\u{FEFF}"`).
public func parseLabelledCSV<Bytes: Collection<UInt8>>(_ bytes: Bytes, source: String) throws
    -> (inputs: Tensor, labels: [Int32])
{
    let bytes = Array(bytes)
    let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
    let text = droppingBlankLinesAtTheEnd(
        bytes.starts(with: byteOrderMark) ? bytes[3...] : bytes[...])
    guard !text.isEmpty else { throw DeepLearningError.emptyFile(path: source) }
    // Row by row, each checked before its values are appended: memory grows with the rows
    // read (a feature takes at least two bytes of text and four of memory), never with a
    // count of rows times a count of columns that the text does not hold.
    var columns = 0
    var features: [Float] = []
    var labels: [Int32] = []
    try forEachPiece(of: text, separatedBy: UInt8(ascii: "\n")) { line, row in
        let line = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        // First what says the text is no UTF-8 CSV at all, which the checks below would
        // misread (UTF-16 text, whose NULs leave the commas in place, as a header).
        if line.contains(0) {
            try forEachField(of: line) { text, column in
                guard !text.utf8.contains(0) else {
                    throw DeepLearningError.nulInField(path: source, row: row, column: column,
                                                       text: text)
                }
            }
        }
        guard !line.allSatisfy(isSpaceOrTab) else {
            throw DeepLearningError.blankRow(path: source, row: row)
        }
        let count = line.reduce(1) { $1 == UInt8(ascii: ",") ? $0 + 1 : $0 }
        if row == 1 {
            guard count >= 2 else { throw DeepLearningError.missingFeatures(path: source) }
            columns = count
        }
        guard count == columns else {
            throw DeepLearningError.fieldCountMismatch(path: source, row: row, count: count,
                                                       expected: columns)
        }
        if row == 1, looksLikeHeader(line) {
            throw DeepLearningError.headerRow(path: source,
                                              text: String(decoding: line, as: UTF8.self))
        }
        try forEachField(of: line) { text, column in
            if column == columns {
                guard let label = Int32(text), label >= 0 else {
                    throw DeepLearningError.invalidLabel(path: source, row: row, column: column,
                                                         text: text)
                }
                labels.append(label)
            } else {
                features.append(try feature(text, row: row, column: column, source: source))
            }
        }
    }
    return (Tensor(shape: [labels.count, columns - 1], values: features), labels)
}

/// `text` without its blank lines at the end (spaces and tabs only, before a `\n` or
/// `\r\n`, or the end) and the line break before them: empty when every line is blank.
private func droppingBlankLinesAtTheEnd(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var end = text.endIndex
    while true {
        let start = text[..<end].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }
            ?? text.startIndex
        let line = text[start..<end]
        guard (line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
            .allSatisfy(isSpaceOrTab) else { return text[..<end] }
        guard start > text.startIndex else { return text[..<start] }
        end = start - 1
    }
}

/// Calls `body` with each piece of `text` between `separator`s (the empty ones too) and its
/// number, from 1.
private func forEachPiece(of text: ArraySlice<UInt8>, separatedBy separator: UInt8,
                          _ body: (ArraySlice<UInt8>, Int) throws -> Void) rethrows {
    var start = text.startIndex
    var number = 1
    while true {
        let end = text[start...].firstIndex(of: separator) ?? text.endIndex
        try body(text[start..<end], number)
        guard end < text.endIndex else { return }
        start = end + 1
        number += 1
    }
}

/// Calls `body` with the text of each comma-separated field of `line`, without the spaces
/// and tabs around it, and its column, from 1.
private func forEachField(of line: ArraySlice<UInt8>,
                          _ body: (String, Int) throws -> Void) rethrows {
    try forEachPiece(of: line, separatedBy: UInt8(ascii: ",")) { field, column in
        try body(String(decoding: field.trimmingSpacesAndTabs(), as: UTF8.self), column)
    }
}

/// Whether the first row `line` looks like a header: text, but no field that is a number.
private func looksLikeHeader(_ line: ArraySlice<UInt8>) -> Bool {
    var (hasNumber, hasText) = (false, false)
    forEachField(of: line) { text, _ in
        hasNumber = hasNumber || Double(text) != nil
        hasText = hasText || !text.isEmpty
    }
    return hasText && !hasNumber
}

/// The finite `Float` that `text` spells; throws `invalidNumber` when it spells none (or an
/// infinity or NaN) and `numberOutOfRange` when its magnitude is beyond `Float`'s.
private func feature(_ text: String, row: Int, column: Int, source: String) throws -> Float {
    guard let value = Float(text), value.isFinite else {
        // Float(text) is an infinity both for "inf" and for digits too large for a Float.
        let magnitude = text.drop { $0 == "+" || $0 == "-" }.lowercased()
        if Float(text)?.isInfinite == true && magnitude != "inf" && magnitude != "infinity" {
            throw DeepLearningError.numberOutOfRange(path: source, row: row, column: column,
                                                     text: text)
        }
        throw DeepLearningError.invalidNumber(path: source, row: row, column: column, text: text)
    }
    return value
}

private func isSpaceOrTab(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
}

extension ArraySlice<UInt8> {
    /// Without the spaces and tabs at either end.
    fileprivate func trimmingSpacesAndTabs() -> ArraySlice<UInt8> {
        guard let start = firstIndex(where: { !isSpaceOrTab($0) }),
              let end = lastIndex(where: { !isSpaceOrTab($0) }) else { return [] }
        return self[start...end]
    }
}

extension String {
    /// The text with control and invisible characters (C0 and C1 controls, DEL, format
    /// characters such as the byte order mark U+FEFF and zero-width spaces, and separators
    /// other than the plain space) written as Swift escapes (`\0`, `\t`, `\r`, `\n`,
    /// `\u{FEFF}`), and backslashes and double quotes escaped, so that an error message shows
    /// exactly what a field holds.
    var escapedForMessage: String {
        var escaped = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\0": escaped += "\\0"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            case "\n": escaped += "\\n"
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case " ": escaped.unicodeScalars.append(scalar)
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator,
                     .unassigned, .privateUse, .surrogate:
                    escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                default:
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }
}
