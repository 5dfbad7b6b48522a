import Foundation

/// Replaces the file at `path` by one holding `bytes`, atomically: `path` holds either its old
/// contents or all of `bytes`, never part of them, even after a crash.
///
/// - When `path` is a symbolic link (or a chain of them), the file it leads to is replaced and
///   the link stays a link.
/// - A replaced file keeps its permissions; a new one gets 0o666 less the umask, as `open`
///   gives.
/// - Only regular files are replaced: a directory, FIFO, device or socket at `path` (or at the
///   end of its links) throws `DeepLearningError.notARegularFile` naming `path` and what it is.
///
/// The bytes go to a temporary file with a short name (".tmp-" and 1-8 hexadecimal digits) in
/// the target's directory, which is flushed to disk and renamed over the target; on any
/// failure it is removed and `DeepLearningError.unwritableFile` names `path` and the system's
/// reason. That includes passing the process's file size limit (`ulimit -f`): the SIGXFSZ
/// the write raises is blocked and taken, so it does not end the process.
///
/// ```swift
/// try replaceFile(at: "picture.png", with: pngBytes)
/// ```
public func replaceFile(at path: String, with bytes: [UInt8]) throws {
    try replaceFiles([(path, bytes)])
}

/// Replaces several files as `replaceFile(at:with:)` replaces one, so that a failure to write
/// one of them replaces none: every file's bytes are first written to its temporary file and
/// flushed to disk, and only when all of them were written are the temporary files renamed
/// over their targets, in the order given. On a failure before the renames (a full disk)
/// every temporary file is removed and every target keeps its old contents. What remains is
/// the window between the renames: a crash there, or a rename that fails (which
/// `DeepLearningError.unwritableFile` reports), leaves the files before it replaced and the
/// others not. The paths must name different files.
func replaceFiles(_ files: [(path: String, bytes: [UInt8])]) throws {
    let targets = try files.map { try replacedFile(of: $0.path) }
    var temporaries: [RawPath?] = []
    do {
        for (file, target) in zip(files, targets) {
            temporaries.append(try writeTemporaryFile(file.bytes, beside: target.path,
                                                      mode: target.mode, for: file.path))
        }
        for (index, (file, target)) in zip(files, targets).enumerated() {
            guard rename(temporaries[index]!.cString, target.path.cString) == 0 else {
                throw DeepLearningError.unwritableFile(path: file.path, reason: systemError())
            }
            temporaries[index] = nil
        }
    } catch {
        for case let temporary? in temporaries { unlink(temporary.cString) }
        throw error
    }
    // A rename is durable once its directory is flushed too; where the file system cannot
    // flush a directory, the file is in place all the same.
    for directory in Set(targets.map(\.path.parent)) {
        let descriptor = open(directory.cString, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
}

/// Writes `bytes` to a new temporary file in `target`'s directory (".tmp-" and 1-8
/// hexadecimal digits), with permissions `mode` when given, flushes it to disk and returns
/// its path. On a failure the file is removed and `unwritableFile` names `path` (the path
/// asked for, which leads to `target`) and the system's reason.
private func writeTemporaryFile(_ bytes: [UInt8], beside target: RawPath, mode: mode_t?,
                                for path: String) throws -> RawPath {
    let directory = target.parent
    var temporary: RawPath
    var descriptor: Int32 = -1
    repeat {
        temporary = directory.appending(".tmp-\(String(UInt32.random(in: .min ... .max), radix: 16))")
        descriptor = open(temporary.cString, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
    } while descriptor < 0 && errno == EEXIST
    guard descriptor >= 0 else {
        throw DeepLearningError.unwritableFile(path: path, reason: systemError())
    }

    var written = 0
    var failure: String?
    if let mode, fchmod(descriptor, mode) != 0 { failure = systemError() }
    withFileSizeSignalBlocked {
        while written < bytes.count && failure == nil {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count >= 0 { written += count } else if errno != EINTR { failure = systemError() }
        }
    }
    if failure == nil && fsync(descriptor) != 0 { failure = systemError() }
    if close(descriptor) != 0 && failure == nil { failure = systemError() }
    if let failure {
        unlink(temporary.cString)
        throw DeepLearningError.unwritableFile(path: path, reason: failure)
    }
    return temporary
}

/// Runs `body`, whose writes may pass the process's file size limit (`RLIMIT_FSIZE`), with
/// SIGXFSZ blocked on the calling thread: such a write then fails with EFBIG, which the caller
/// reports and cleans up after, instead of the signal's default action ending the process and
/// leaving the temporary file behind. The SIGXFSZ a write raised is taken before the signal is
/// unblocked, so that it is not delivered afterwards. Where the caller blocks SIGXFSZ itself,
/// its mask and any pending SIGXFSZ are left as they are.
private func withFileSizeSignalBlocked(_ body: () -> Void) {
    var fileSizeSignal = sigset_t()
    sigemptyset(&fileSizeSignal)
    sigaddset(&fileSizeSignal, SIGXFSZ)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &fileSizeSignal, &previous)
    body()
    guard sigismember(&previous, SIGXFSZ) == 0 else { return }
    var noWait = timespec()
    _ = sigtimedwait(&fileSizeSignal, nil, &noWait) // -1 (EAGAIN) when no write raised it
    pthread_sigmask(SIG_SETMASK, &previous, nil)
}

/// Throws, before anything is written, the errors `replaceFile(at: path, with:)` would throw
/// for `path` itself, so that a bad path is found before the work whose result it is to hold:
/// `notARegularFile` when `path` (or the end of its links) is a directory, FIFO, device or
/// socket, and `unwritableFile` when the directory the file would be written in is missing,
/// is not a directory or is not writable. (The write itself can still fail, on a full disk.)
/// `Model.fit` checks its checkpoints' paths with it before training.
///
/// ```swift
/// try checkReplaceable(at: "results/model.safetensors")   // before a long training run
/// ```
public func checkReplaceable(at path: String) throws {
    let directory = try replacedFile(of: path).path.parent
    var status = stat()
    let problem: String? = if stat(directory.cString, &status) != 0 {
        errno == ENOENT ? "the directory \(directory) does not exist"
            : "the directory \(directory) cannot be examined: \(systemError())"
    } else if status.st_mode & S_IFMT != S_IFDIR {
        "\(directory) is not a directory"
    } else if access(directory.cString, W_OK) != 0 {
        "the directory \(directory) is not writable: \(systemError())"
    } else {
        nil
    }
    if let problem { throw DeepLearningError.unwritableFile(path: path, reason: problem) }
}

/// The file `replaceFile(at: path, with:)` replaces, the end of `path`'s links, and its
/// permissions when it exists. Throws `notARegularFile` when it is not a regular file, and
/// `unwritableFile` when `path` is empty, a link cannot be read or the file cannot be examined.
private func replacedFile(of path: String) throws -> (path: RawPath, mode: mode_t?) {
    guard !path.isEmpty else {
        throw DeepLearningError.unwritableFile(path: path, reason: "an empty path names no file")
    }
    let target = try linkTarget(of: path)
    var status = stat()
    guard lstat(target.cString, &status) == 0 else {
        // No file there (ENOTDIR: a part of the directory is a file, which the caller reports).
        guard errno == ENOENT || errno == ENOTDIR else {
            throw DeepLearningError.unwritableFile(path: path, reason: systemError())
        }
        return (target, nil)
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
        let kind = fileKind(status.st_mode)
        throw DeepLearningError.notARegularFile(
            path: path, kind: target == RawPath(path) ? kind : "a symbolic link to \(kind), \(target)")
    }
    return (target, status.st_mode & 0o7777)
}

/// The directory entry that `replaceFile(at: path, with:)` replaces, as an absolute path
/// without symbolic links, `.` or `..`: the end of `path`'s chain of links, in its directory's
/// real path. Two paths whose entries are equal name one file for `replaceFile`. Where a link
/// cannot be read or the directory does not exist (`replaceFile` would throw), the path as
/// far as it was followed.
func replacedEntry(of path: String) -> RawPath {
    let target = (try? linkTarget(of: path)) ?? RawPath(path)
    guard let directory = realpath(target.parent.cString, nil) else { return target }
    defer { free(directory) }
    let real = RawPath(bytes: UnsafeRawBufferPointer(start: directory, count: strlen(directory)))
    return real.appending(target.name)
}

/// The path that `path`'s chain of symbolic links leads to (`path` itself when it is no link
/// or does not exist), as the bytes the links hold, which need not be UTF-8. Throws
/// `unwritableFile` naming `path` when a link cannot be read or the chain is longer than 40
/// links (Linux's limit).
private func linkTarget(of path: String) throws -> RawPath {
    var current = RawPath(path)
    for _ in 0..<40 {
        var status = stat()
        guard lstat(current.cString, &status) == 0, status.st_mode & S_IFMT == S_IFLNK else {
            return current
        }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = readlink(current.cString, &buffer, buffer.count)
        guard count >= 0 else {
            throw DeepLearningError.unwritableFile(path: path, reason: systemError())
        }
        let destination = RawPath(bytes: buffer[..<count].map { UInt8(bitPattern: $0) })
        current = destination.isAbsolute ? destination : current.parent.appending(destination)
    }
    throw DeepLearningError.unwritableFile(path: path, reason: String(cString: strerror(ELOOP)))
}

/// A path as the bytes the system takes, which need not be UTF-8 (a link may name any bytes
/// but NUL): kept as bytes, so that a file is found by the very name a link gives it.
struct RawPath: Hashable, CustomStringConvertible {
    let bytes: [UInt8]

    /// The path `path` names.
    init(_ path: String) { bytes = Array(path.utf8) }

    init(bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }

    /// The path for messages: UTF-8, with U+FFFD for bytes that are not.
    var description: String { String(decoding: bytes, as: UTF8.self) }

    /// The path as a C string, for the system's functions.
    var cString: [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }

    var isAbsolute: Bool { bytes.first == UInt8(ascii: "/") }

    /// The directory part: "." for a bare name, "/" for a file in the root.
    var parent: RawPath {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return RawPath(".") }
        return slash == 0 ? RawPath("/") : RawPath(bytes: bytes[..<slash])
    }

    /// The last component that is not empty; the whole path when there is none ("/").
    var name: RawPath {
        bytes.split(separator: UInt8(ascii: "/")).last.map { RawPath(bytes: $0) } ?? self
    }

    /// `component` inside this directory.
    func appending(_ component: RawPath) -> RawPath {
        RawPath(bytes: bytes.last == UInt8(ascii: "/") ? bytes + component.bytes
                                                       : bytes + [UInt8(ascii: "/")] + component.bytes)
    }

    func appending(_ component: String) -> RawPath { appending(RawPath(component)) }
}
