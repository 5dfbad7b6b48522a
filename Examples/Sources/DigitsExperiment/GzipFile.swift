import CZlib
import DeepLearning
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of the file at `path`, decompressed by zlib when it is gzip-compressed (zlib
/// reads other files as they are), at most `sizeLimit` of them (by default
/// `labelledCSVSizeLimit`, 1 GiB), so that a small file which decompresses to gigabytes (a
/// gzip bomb) is refused instead of exhausting the memory. A device is not read (one such as
/// `/dev/zero` never ends); a pipe is read to its end.
///
/// Throws `DeepLearningError.unreadableFile` naming zlib's or the system's reason, and saying
/// "truncated" when the compressed data ends before its gzip stream does;
/// `DeepLearningError.notARegularFile` for a device;
/// `DeepLearningError.decompressedFileTooLarge` beyond `sizeLimit`.
func readGzipFile(at path: String, sizeLimit: Int = labelledCSVSizeLimit) throws -> [UInt8] {
    var status = stat()
    if stat(path, &status) == 0 {
        switch status.st_mode & S_IFMT {
        case S_IFCHR: throw DeepLearningError.notARegularFile(path: path, kind: "a character device")
        case S_IFBLK: throw DeepLearningError.notARegularFile(path: path, kind: "a block device")
        default: break
        }
    }
    guard let file = gzopen(path, "rb") else {
        throw DeepLearningError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    defer { gzclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        // gzread returns 0 both at the end of the stream and when the input ends inside it
        // (zlib then records Z_BUF_ERROR, "unexpected end of file"); gzerror tells them apart.
        var code: Int32 = Z_OK
        let message = String(cString: gzerror(file, &code))
        guard count >= 0, code == Z_OK else {
            let reason = switch code {
            case Z_BUF_ERROR: "it is truncated: the data ends inside its gzip stream"
            case Z_ERRNO: String(cString: strerror(errno))
            default: message
            }
            throw DeepLearningError.unreadableFile(path: path, reason: reason)
        }
        if count == 0 { return bytes }
        guard bytes.count + Int(count) <= sizeLimit else {
            throw DeepLearningError.decompressedFileTooLarge(path: path, limit: sizeLimit)
        }
        bytes.append(contentsOf: chunk[..<Int(count)])
    }
}
