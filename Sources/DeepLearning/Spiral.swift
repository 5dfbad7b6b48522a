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
/// point as its label.
///
/// ```swift
/// let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3)
/// ```
public func spiral(pointsPerClass: Int = 100, classes: Int = 3, noise: Float = 0.2,
                   seed: UInt64 = 0) -> (inputs: Tensor, labels: [Int32]) {
    require(pointsPerClass >= 1 && classes >= 1,
                 "spiral: needs at least 1 point and 1 class, got \(pointsPerClass) × \(classes)")
    var generator = SeededGenerator(seed: seed)
    let inputs = Tensor(shape: [pointsPerClass * classes, 2])
    var labels: [Int32] = []
    labels.reserveCapacity(pointsPerClass * classes)
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
