import DeepLearning

/// libFuzzer's entry point: parses the bytes, as they are, as a labelled CSV file. A thrown
/// error is the parser's answer to bad input; a crash, a trap, a sanitizer's report or a hang
/// is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLabelledCSV(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = try? parseLabelledCSV(UnsafeBufferPointer(start: start, count: count), source: "fuzz input")
    return 0
}
