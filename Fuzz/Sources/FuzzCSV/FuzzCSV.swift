import DeepLearning

/// libFuzzer's entry point: parses the bytes, decoded as UTF-8 (invalid sequences become
/// U+FFFD), as a labelled CSV text. A thrown error is the parser's answer to bad input; a
/// crash, a trap, a sanitizer's report or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLabelledCSV(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: count)
    _ = try? parseLabelledCSV(String(decoding: bytes, as: UTF8.self), source: "fuzz input")
    return 0
}
