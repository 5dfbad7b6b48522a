#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The article's spiral data set: `classes` interleaved spiral arms of `pointsPerClass`
/// points each in the plane. Point i of arm j has radius r = i / (pointsPerClass − 1) and
/// angle t = 4·(j + r) + noise·N(0, 1), at (r·sin t, r·cos t).
///
/// Returns the inputs (`[pointsPerClass · classes, 2]`, arm by arm) and the arm of each
/// point as its label. Stops with a message when either count is below 1, or the points are
/// too many to count in an Int (or the classes to label in Int32).
///
/// ```swift
/// let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3)
/// ```
public func spiral(pointsPerClass: Int = 100, classes: Int = 3, noise: Float = 0.2,
                   seed: UInt64 = 0) -> (inputs: Tensor, labels: [Int32]) {
    require(pointsPerClass >= 1 && classes >= 1,
                 "spiral: needs at least 1 point and 1 class, got \(pointsPerClass) × \(classes)")
    let (points, overflow) = pointsPerClass.multipliedReportingOverflow(by: classes)
    require(!overflow && classes <= Int(Int32.max) + 1,
            "spiral: \(pointsPerClass) × \(classes) points are too many: their count must fit in an Int and the classes in Int32 labels")
    var generator = SeededGenerator(seed: seed)
    let inputs = Tensor(shape: [points, 2], for: "spiral")
    var labels: [Int32] = []
    labels.reserveCapacity(points)
    for arm in 0..<classes {
        for i in 0..<pointsPerClass {
            let radius = pointsPerClass > 1 ? Float(i) / Float(pointsPerClass - 1) : 0
            let angle = 4 * (Float(arm) + radius) + noise * generator.nextNormal()
            let row = arm * pointsPerClass + i
            inputs.value[2 * row] = radius * sin(angle)
            inputs.value[2 * row + 1] = radius * cos(angle)
            labels.append(Int32(arm))
        }
    }
    return (inputs, labels)
}
