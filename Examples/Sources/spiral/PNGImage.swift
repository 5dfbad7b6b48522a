import CPNG
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An RGB picture, 8 bits per channel, that can be written as a PNG file with libpng.
struct PNGImage {
    let width: Int
    let height: Int
    /// Row-major, 3 bytes (red, green, blue) per pixel.
    private(set) var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    /// Colours the pixel at column `x`, row `y` (from the top); ignores pixels outside.
    mutating func set(x: Int, y: Int, to color: RGB) {
        guard (0..<width).contains(x), (0..<height).contains(y) else { return }
        let offset = (y * width + x) * 3
        pixels[offset] = color.red
        pixels[offset + 1] = color.green
        pixels[offset + 2] = color.blue
    }

    /// Writes the picture to `path` through a temporary file beside it, renamed over `path`
    /// only once complete: a failed write leaves what was at `path` as it was. Throws
    /// `PNGWriteError` when libpng cannot encode the picture or the file cannot be written.
    func write(to path: String) throws {
        try replaceFile(at: path, with: try encoded(for: path))
    }

    /// The picture encoded as PNG in memory; `path` only names the target in errors.
    private func encoded(for path: String) throws -> [UInt8] {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        // The first call, without memory, computes the size; the second writes the bytes.
        var size: png_alloc_size_t = 0
        var bytes: [UInt8] = []
        for memory in [false, true] {
            if memory { bytes = [UInt8](repeating: 0, count: Int(size)) }
            let written = pixels.withUnsafeBytes { pixels in
                bytes.withUnsafeMutableBytes { output in
                    png_image_write_to_memory(&image, memory ? output.baseAddress : nil, &size, 0,
                                              pixels.baseAddress, png_int_32(width * 3), nil)
                }
            }
            guard written != 0 else {
                let message = withUnsafeBytes(of: image.message) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                throw PNGWriteError(path: path, reason: message)
            }
        }
        return Array(bytes.prefix(Int(size)))
    }
}

/// Writes `bytes` to a new temporary file in `path`'s directory and renames it over `path`
/// (with the permissions a new file gets from the umask), so that a failed write (a full
/// disk, a size limit) leaves the previous file intact. Throws `PNGWriteError`; removes the
/// temporary file on failure.
private func replaceFile(at path: String, with bytes: [UInt8]) throws {
    func systemError() -> String { String(cString: strerror(errno)) }
    let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
    var template = Array((directory + ".spiral-XXXXXX").utf8CString)
    let descriptor = mkstemp(&template)
    guard descriptor >= 0 else {
        throw PNGWriteError(path: path, reason: "cannot create a temporary file beside it: \(systemError())")
    }
    let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    func check(_ succeeded: Bool, _ action: String? = nil) throws {
        guard succeeded else {
            throw PNGWriteError(path: path, reason: (action.map { "cannot \($0): " } ?? "") + systemError())
        }
    }
    var isOpen = true
    do {
        let mask = umask(0)
        umask(mask)
        try check(fchmod(descriptor, 0o666 & ~mask) == 0, "set the permissions of \(temporary)")
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            try check(count > 0)
            offset += count
        }
        try check(fsync(descriptor) == 0)
        isOpen = false
        try check(close(descriptor) == 0)
        try check(rename(temporary, path) == 0, "rename \(temporary) to it")
    } catch {
        if isOpen { close(descriptor) }
        unlink(temporary)
        throw error
    }
}

struct RGB {
    var red, green, blue: UInt8
}

struct PNGWriteError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot write the picture to \(path): \(reason)" }
}
