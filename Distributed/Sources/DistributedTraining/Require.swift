/// Stops the program with `message` when `condition` is false: for programming errors, as
/// DeepLearning's own (internal) `require`. Unlike `precondition`, which drops its message in
/// optimized builds, this prints the message in release builds too.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
