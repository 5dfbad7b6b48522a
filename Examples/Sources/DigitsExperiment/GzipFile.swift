import CZlib
import DeepLearning
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of the file at `path`, decompressed by zlib when it is gzip-compressed (zlib
/// reads other files as they are). Throws `DeepLearningError.unreadableFile` naming zlib's or
/// the system's reason.
func readGzipFile(at path: String) throws -> String {
    guard let file = gzopen(path, "rb") else {
        throw DeepLearningError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    defer { gzclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
        if count == 0 { return String(decoding: bytes, as: UTF8.self) }
        guard count > 0 else {
            var code: Int32 = 0
            let message = String(cString: gzerror(file, &code))
            let reason = code == Z_ERRNO ? String(cString: strerror(errno)) : message
            throw DeepLearningError.unreadableFile(path: path, reason: reason)
        }
        bytes.append(contentsOf: chunk[..<Int(count)])
    }
}
