import CZlib
import DeepLearning
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of the file at `path`, decompressed by zlib when it is gzip-compressed (when it
/// starts with gzip's magic bytes 1F 8B; other files are read as they are), at most
/// `sizeLimit` of them (by default `labelledCSVSizeLimit`, 1 GiB), so that a small file which
/// decompresses to gigabytes (a gzip bomb) is refused instead of exhausting the memory. A gzip
/// file is one or more gzip members, each checked against its CRC and length, and may end
/// with zero bytes (which `gzip` and Python's `gzip` skip too); anything else after its
/// members is refused rather than ignored. A device is not read (one such as `/dev/zero`
/// never ends); a pipe is read to its end.
///
/// Throws `DeepLearningError.unreadableFile` naming zlib's or the system's reason, saying
/// "truncated" when the compressed data ends inside a gzip member and "not gzip" when bytes
/// that are not a gzip member follow one; `DeepLearningError.notARegularFile` for a device;
/// `DeepLearningError.decompressedFileTooLarge` beyond `sizeLimit`.
func readGzipFile(at path: String, sizeLimit: Int = labelledCSVSizeLimit) throws -> [UInt8] {
    func unreadable(_ reason: String) -> DeepLearningError {
        .unreadableFile(path: path, reason: reason)
    }
    var status = stat()
    if stat(path, &status) == 0 {
        switch status.st_mode & S_IFMT {
        case S_IFCHR: throw DeepLearningError.notARegularFile(path: path, kind: "a character device")
        case S_IFBLK: throw DeepLearningError.notARegularFile(path: path, kind: "a block device")
        default: break
        }
    }
    guard let file = fopen(path, "rb") else { throw unreadable(String(cString: strerror(errno))) }
    defer { fclose(file) }
    var input = FileInput(file: file, path: path)
    var bytes: [UInt8] = []
    func append(_ piece: ArraySlice<UInt8>) throws {
        guard bytes.count + piece.count <= sizeLimit else {
            throw DeepLearningError.decompressedFileTooLarge(path: path, limit: sizeLimit)
        }
        bytes.append(contentsOf: piece)
    }
    let magic: [UInt8] = [0x1F, 0x8B]
    guard try input.startsWith(magic) else {
        while true {
            let chunk = try input.pending()
            if chunk.isEmpty { return bytes }
            try append(chunk)
            input.consume(chunk.count)
        }
    }

    var stream = z_stream()
    // 16 + MAX_WBITS: gzip members, whose headers and trailers inflate checks.
    guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
    else { throw unreadable("zlib cannot start inflating") }
    defer { inflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: 1 << 16)
    repeat {
        inflateReset(&stream)
        var code = Z_OK
        while code != Z_STREAM_END {
            let chunk = try input.pending()
            let produced = chunk.withUnsafeBufferPointer { chunk in
                output.withUnsafeMutableBufferPointer { output in
                    // inflate only reads its input.
                    stream.next_in = UnsafeMutablePointer(mutating: chunk.baseAddress)
                    stream.avail_in = UInt32(chunk.count)
                    stream.next_out = output.baseAddress
                    stream.avail_out = UInt32(output.count)
                    code = inflate(&stream, Z_NO_FLUSH)
                    return output.count - Int(stream.avail_out)
                }
            }
            input.consume(chunk.count - Int(stream.avail_in))
            try append(output[..<produced])
            // Z_BUF_ERROR: no progress, with all the output room given: the input has ended.
            if code == Z_BUF_ERROR { throw unreadable("it is truncated: the data ends inside its gzip stream") }
            guard code == Z_OK || code == Z_STREAM_END else {
                throw unreadable(stream.msg.map { String(cString: $0) } ?? "zlib error \(code)")
            }
        }
        try input.skipZeros()
        guard try input.startsWith(magic) || input.pending().isEmpty else {
            throw unreadable("bytes that are not gzip follow its gzip data, from byte \(input.consumed)")
        }
    } while try !input.pending().isEmpty
    return bytes
}

/// A file read in chunks, as far as its bytes have been consumed; `path` names it in errors.
private struct FileInput {
    let file: UnsafeMutablePointer<FILE>
    let path: String
    /// The chunk read; `unconsumed` its bytes not consumed yet.
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var unconsumed = 0..<0
    /// The bytes consumed from the start of the file.
    private(set) var consumed = 0

    init(file: UnsafeMutablePointer<FILE>, path: String) {
        self.file = file
        self.path = path
    }

    /// The bytes read and not consumed, at least `count` of them unless the file ends first
    /// (reading on when fewer are left): empty at the end of the file.
    mutating func pending(atLeast count: Int = 1) throws -> ArraySlice<UInt8> {
        if unconsumed.count < count {
            let rest = Array(buffer[unconsumed])
            buffer.replaceSubrange(0..<rest.count, with: rest)
            let free = buffer.count - unconsumed.count
            let read = buffer[unconsumed.count...].withUnsafeMutableBytes {
                fread($0.baseAddress, 1, free, file)
            }
            if read < free && ferror(file) != 0 {
                throw DeepLearningError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
            }
            unconsumed = 0..<(unconsumed.count + read)
        }
        return buffer[unconsumed]
    }

    /// Consumes the first `count` bytes not consumed.
    mutating func consume(_ count: Int) {
        unconsumed = (unconsumed.lowerBound + count)..<unconsumed.upperBound
        consumed += count
    }

    /// Whether the bytes not consumed start with `prefix`.
    mutating func startsWith(_ prefix: [UInt8]) throws -> Bool {
        try pending(atLeast: prefix.count).starts(with: prefix)
    }

    /// Consumes the zero bytes at the start of the bytes not consumed.
    mutating func skipZeros() throws {
        while try pending().first == 0 { consume(try pending().prefix { $0 == 0 }.count) }
    }
}
