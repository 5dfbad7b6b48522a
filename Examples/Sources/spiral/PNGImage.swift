import CPNG
import DeepLearning

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

    /// Writes the picture to `path` with the library's `replaceFile(at:with:)`: atomically, so
    /// that a failed write leaves what was at `path` as it was, through a symbolic link to its
    /// target, keeping an existing file's permissions. Throws `PNGEncodingError` when libpng
    /// cannot encode the picture, and `DeepLearningError` when the file cannot be written.
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
                throw PNGEncodingError(path: path, reason: message)
            }
        }
        return Array(bytes.prefix(Int(size)))
    }
}

struct RGB {
    var red, green, blue: UInt8
}

/// libpng could not encode the picture meant for `path`; `reason` is libpng's message.
struct PNGEncodingError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot encode the picture for \(path) as PNG: \(reason)" }
}
