import CPNG

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

    /// Writes the picture to `path`; throws when libpng cannot.
    func write(to path: String) throws {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        let written = pixels.withUnsafeBytes { bytes in
            png_image_write_to_file(&image, path, 0, bytes.baseAddress, png_int_32(width * 3), nil)
        }
        guard written != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw PNGWriteError(path: path, reason: message)
        }
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
