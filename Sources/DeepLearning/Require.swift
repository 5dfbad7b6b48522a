/// Stops the program with `message` when `condition` is false: for programming errors such as
/// layers whose sizes do not fit. Unlike `precondition`, which drops its message in optimized
/// builds, this prints the message in release builds too, after the current
/// `RequireContext` when there is one.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition { stop(message(), file: file, line: line) }
}

/// Stops the program with `message`, after the current `RequireContext` when there is one.
func stop(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(RequireContext.current.map { $0 + message } ?? message, file: file, line: line)
}

/// Stops with "`owner`: `name` `value` must be `requirement`" (then ": `outside`" when given)
/// unless `range` holds `value`, and with "`owner`: `name` is NaN; it must be `requirement`"
/// for NaN: the check of a setting bounded on both sides (Adam's betas, RMSProp's alpha,
/// `Dropout`'s probability). `requirement` says what `range` is: "in [0, 1)".
func requireSetting(_ value: Float, in range: some RangeExpression<Float>, _ owner: String,
                    _ name: String, mustBe requirement: String, outside: String? = nil,
                    file: StaticString = #fileID, line: UInt = #line) {
    require(range.contains(value),
            value.isNaN ? "\(owner): \(name) is NaN; it must be \(requirement)"
                : "\(owner): \(name) \(value) must be \(requirement)" + (outside.map { ": \($0)" } ?? ""),
            file: file, line: line)
}

/// What a check's message is read in: while `Model.fit` checks its layers on one sample before
/// training, which layer of the model runs and the shapes of the user's data that reach it,
/// so that a layer's own message about the check's tensors ("input of shape [1, 3]") is not
/// the only thing a user sees. Per task, as `GradientRecording`.
enum RequireContext {
    /// The text put before a stopping check's message; nil outside such a context.
    @TaskLocal static var current: String?
}
