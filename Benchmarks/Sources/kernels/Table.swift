import Foundation

/// A table printed one row at a time, as results come in: fixed column widths, the first
/// column left-aligned, the others right-aligned.
struct Table {
    let titles: [String]
    let widths: [Int]

    /// Columns as (title, width of the widest expected value).
    init(_ columns: [(String, Int)]) {
        titles = columns.map(\.0)
        widths = columns.map { max($0.0.count, $0.1) }
    }

    func printHeader() {
        printRow(titles)
        printRow(widths.map { String(repeating: "-", count: $0) })
    }

    func printRow(_ cells: [String]) {
        let padded = zip(cells, widths).enumerated().map { column, cell in
            let padding = String(repeating: " ", count: max(0, cell.1 - cell.0.count))
            return column == 0 ? cell.0 + padding : padding + cell.0
        }
        print(padded.joined(separator: "  "))
        fflush(nil)  // all streams: stdout itself is not concurrency-safe to name
    }
}

/// `value` with `decimals` decimals, or "-" when there is no value.
func formatted(_ value: Double?, decimals: Int = 1) -> String {
    guard let value, value.isFinite else { return "-" }
    return String(format: "%.\(decimals)f", value)
}

/// About three significant digits: 1234, 123, 12.3, 1.23.
func formattedShort(_ value: Double?) -> String {
    guard let value else { return "-" }
    return formatted(value, decimals: value >= 100 ? 0 : value >= 10 ? 1 : 2)
}

/// A ratio: 0.87x.
func formattedRatio(_ value: Double?) -> String {
    guard let value else { return "-" }
    return formatted(value, decimals: 2) + "x"
}

/// How far the fastest and slowest rounds lie from the median, in percent: "-3/+8%".
func formattedSpread(_ timing: Timing) -> String {
    let below = (timing.fastest / timing.median - 1) * 100
    let above = (timing.slowest / timing.median - 1) * 100
    return String(format: "%.0f/+%.0f%%", below, above)
}
