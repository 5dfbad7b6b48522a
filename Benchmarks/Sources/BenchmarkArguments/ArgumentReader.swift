import Foundation

/// Reads a benchmark's command-line arguments one at a time. A missing or malformed value ends
/// the program with a message and the usage on standard error (status 2); `--help` or `-h`
/// prints the usage (status 0).
///
/// ```swift
/// var arguments = ArgumentReader(program: "kernels", usage: usage)
/// while let argument = arguments.next() {
///     switch argument {
///     case "--rounds": rounds = arguments.positiveInteger(for: argument)
///     default: arguments.fail("unknown argument \(argument)")
///     }
/// }
/// ```
public struct ArgumentReader {
    /// The program's name, which starts its messages.
    public let program: String
    /// The usage, printed for `--help` and after every message.
    public let usage: String
    private var rest: ArraySlice<String>

    /// A reader of `arguments`: by default the process's, after the program's path.
    public init(program: String, usage: String,
                arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        self.program = program
        self.usage = usage
        rest = arguments[...]
    }

    /// The next argument, nil after the last; `--help` and `-h` print the usage and exit.
    public mutating func next() -> String? {
        guard let argument = rest.popFirst() else { return nil }
        if argument == "--help" || argument == "-h" {
            print(usage)
            exit(0)
        }
        return argument
    }

    /// The value after `option`; fails when there is none.
    public mutating func value(for option: String) -> String {
        guard let value = rest.popFirst() else { fail("\(option) needs a value") }
        return value
    }

    /// The value after `option`, a positive integer; fails otherwise.
    public mutating func positiveInteger(for option: String) -> Int {
        guard let count = Int(value(for: option)), count > 0 else {
            fail("\(option) needs a positive integer")
        }
        return count
    }

    /// Ends the program: "program: message" and the usage on standard error, status 2.
    public func fail(_ message: String) -> Never {
        ArgumentReader.fail(program: program, usage: usage, message)
    }

    /// Ends `program`: "program: message" and `usage` on standard error, status 2 (for a
    /// problem found after the arguments were read).
    public static func fail(program: String, usage: String, _ message: String) -> Never {
        FileHandle.standardError.write(Data("\(program): \(message)\n\(usage)\n".utf8))
        exit(2)
    }
}
