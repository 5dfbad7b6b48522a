import Foundation

// Opening a file for reading only when it is a regular file, and reading exactly the bytes
// asked for: a path to a device, a FIFO or a directory is refused before anything is read.

/// A regular file opened for reading, with its size when it was opened.
///
/// ```swift
/// let file = try RegularFileReader(path: "model.safetensors")
/// let prefix = try file.read(0..<min(8, file.size))
/// ```
final class RegularFileReader {
    /// The path it was opened with, for messages.
    let path: String
    /// Its size in bytes when it was opened.
    let size: Int
    private let descriptor: Int32

    /// Opens `path`; throws `unreadableFile` when it cannot and `notARegularFile` when it is
    /// anything but a regular file (a link is followed to its target).
    init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw DeepLearningError.unreadableFile(path: path, reason: systemError())
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = systemError()
            close(descriptor)
            throw DeepLearningError.unreadableFile(path: path, reason: reason)
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw DeepLearningError.notARegularFile(path: path, kind: fileKind(status.st_mode))
        }
        self.descriptor = descriptor
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// The bytes at offsets `range`; throws `unreadableFile` when they cannot be read, or when
    /// the file ends before them (it shrank after it was opened).
    func read(_ range: Range<Int>) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let count = bytes.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
            }
            if count > 0 {
                done += count
            } else if count == 0 {
                throw DeepLearningError.unreadableFile(
                    path: path, reason: "it ends at byte \(range.lowerBound + done), before byte \(range.upperBound); it changed while it was read")
            } else if errno != EINTR {
                throw DeepLearningError.unreadableFile(path: path, reason: systemError())
            }
        }
        return bytes
    }
}

/// What a file of `mode` (`stat`'s `st_mode`) is, for messages: "a directory", "a FIFO", ...
func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: "a regular file"
    case S_IFDIR: "a directory"
    case S_IFIFO: "a FIFO"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    case S_IFLNK: "a symbolic link"
    default: "a file of type \(String(mode & S_IFMT, radix: 8))"
    }
}

/// The system's description of the last error (`errno`).
func systemError() -> String { String(cString: strerror(errno)) }
