import DeepLearning

/// The article's figure: the plane coloured by the class the model predicts at each pixel
/// (its decision regions), with the data points drawn on top in a darker shade of their
/// class's colour.
enum DecisionPlot {
    /// Light region colours and dark point colours, one pair per class (cycled past ten).
    private static let palette: [(region: RGB, point: RGB)] = [
        (RGB(red: 187, green: 208, blue: 240), RGB(red: 31, green: 90, blue: 180)),
        (RGB(red: 247, green: 205, blue: 170), RGB(red: 220, green: 100, blue: 10)),
        (RGB(red: 190, green: 230, blue: 190), RGB(red: 30, green: 140, blue: 40)),
        (RGB(red: 240, green: 190, blue: 190), RGB(red: 190, green: 30, blue: 35)),
        (RGB(red: 215, green: 200, blue: 235), RGB(red: 120, green: 80, blue: 170)),
        (RGB(red: 225, green: 205, blue: 195), RGB(red: 130, green: 80, blue: 65)),
        (RGB(red: 245, green: 200, blue: 230), RGB(red: 200, green: 80, blue: 160)),
        (RGB(red: 215, green: 215, blue: 215), RGB(red: 100, green: 100, blue: 100)),
        (RGB(red: 230, green: 230, blue: 175), RGB(red: 160, green: 160, blue: 20)),
        (RGB(red: 180, green: 230, blue: 235), RGB(red: 20, green: 160, blue: 180)),
    ]

    /// A `size` × `size` picture of `model`'s decision regions around the 2-D `inputs`, with
    /// the points coloured by `labels`.
    static func render(model: Model, inputs: Tensor, labels: [Int32], size: Int = 480)
        -> PNGImage
    {
        let points = inputs.values
        let xs = stride(from: 0, to: points.count, by: 2).map { points[$0] }
        let ys = stride(from: 1, to: points.count, by: 2).map { points[$0] }
        let (low, high) = (min(xs.min()!, ys.min()!), max(xs.max()!, ys.max()!))
        let margin = 0.1 * (high - low) + 1e-3
        let (origin, extent) = (low - margin, high - low + 2 * margin)
        func planeCoordinate(_ pixel: Int) -> Float { origin + (Float(pixel) + 0.5) / Float(size) * extent }
        func pixel(_ coordinate: Float) -> Int { Int(((coordinate - origin) / extent * Float(size)).rounded(.down)) }

        var image = PNGImage(width: size, height: size)
        // One image row per batch: [size, 2] plane points, top row = largest y.
        let row = Tensor(shape: [size, 2])
        for y in 0..<size {
            row.withUnsafeMutableBufferPointer { row in
                for x in 0..<size {
                    row[2 * x] = planeCoordinate(x)
                    row[2 * x + 1] = planeCoordinate(size - 1 - y)
                }
            }
            for (x, predicted) in model.predict(row).enumerated() {
                image.set(x: x, y: y, to: palette[Int(predicted) % palette.count].region)
            }
        }
        let radius = 3
        for (index, label) in labels.enumerated() {
            let (cx, cy) = (pixel(xs[index]), size - 1 - pixel(ys[index]))
            for dy in -radius...radius {
                for dx in -radius...radius where dx * dx + dy * dy <= radius * radius {
                    image.set(x: cx + dx, y: cy + dy, to: palette[Int(label) % palette.count].point)
                }
            }
        }
        return image
    }
}
