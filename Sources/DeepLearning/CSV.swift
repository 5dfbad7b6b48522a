#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a labelled data set from the CSV file at `path`: each row holds numeric features
/// followed by an integer label in its last column, no header. Returns the features as
/// `[rows, features]` and the labels in row order.
///
/// ```swift
/// let (inputs, labels) = try loadLabelledCSV(from: "iris.csv")   // [150, 4], 150 labels
/// ```
///
/// Throws `DeepLearningError` when the file cannot be read, or as
/// ``parseLabelledCSV(_:source:)`` does.
public func loadLabelledCSV(from path: String) throws -> (inputs: Tensor, labels: [Int32]) {
    guard let file = fopen(path, "rb") else {
        throw DeepLearningError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        bytes.append(contentsOf: chunk[..<count])
        if count < chunk.count { break }
    }
    if ferror(file) != 0 {
        throw DeepLearningError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    return try parseLabelledCSV(String(decoding: bytes, as: UTF8.self), source: path)
}

/// Parses CSV `text` whose rows hold numeric features followed by an integer label in the
/// last column (no header), for text read by the caller (decompressed, downloaded, in a test).
/// `source` names the text in error messages, e.g. its file's path.
///
/// Fields are separated by commas and may have spaces around them; rows end with `\n` or
/// `\r\n`, and blank lines at the end are ignored. Every row must have as many fields as the
/// first one (at least two: one feature and the label). Throws `DeepLearningError` when
/// the text has no rows, a row has another number of fields, a feature is not a finite
/// number, or a label is not an integer in `0...Int32.max`; the message names `source`, the
/// row and the column (both from 1) and the offending text.
public func parseLabelledCSV(_ text: String, source: String) throws
    -> (inputs: Tensor, labels: [Int32])
{
    // "\r\n" is one Character in Swift.
    var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeLast() }
    guard let first = lines.first else { throw DeepLearningError.emptyFile(path: source) }
    let columns = first.split(separator: ",", omittingEmptySubsequences: false).count
    guard columns >= 2 else { throw DeepLearningError.missingFeatures(path: source) }
    let features = columns - 1
    let inputs = Tensor(shape: [lines.count, features])
    var labels: [Int32] = []
    labels.reserveCapacity(lines.count)
    for (index, line) in lines.enumerated() {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == columns else {
            throw DeepLearningError.fieldCountMismatch(path: source, row: index + 1,
                                                       count: fields.count, expected: columns)
        }
        for (column, field) in fields.enumerated() {
            let text = field.trimmingSpaces()
            if column == features {
                guard let label = Int32(text), label >= 0 else {
                    throw DeepLearningError.invalidLabel(path: source, row: index + 1,
                                                         column: column + 1, text: String(field))
                }
                labels.append(label)
            } else {
                guard let value = Float(text), value.isFinite else {
                    throw DeepLearningError.invalidNumber(path: source, row: index + 1,
                                                          column: column + 1, text: String(field))
                }
                inputs.value[index * features + column] = value
            }
        }
    }
    return (inputs, labels)
}

extension Substring {
    /// Without the spaces and tabs at either end.
    fileprivate func trimmingSpaces() -> Substring {
        let isText: (Character) -> Bool = { $0 != " " && $0 != "\t" }
        guard let start = firstIndex(where: isText), let end = lastIndex(where: isText) else {
            return ""
        }
        return self[start...end]
    }
}
