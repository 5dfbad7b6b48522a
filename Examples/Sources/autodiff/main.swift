// `swift run -c release --package-path Examples autodiff`: the article's example of reverse-mode automatic
// differentiation, y = sin(x1) + x1·x2 at x1 = 2, x2 = 5, its gradients by backward(), and a
// check of them against central finite differences.
import DeepLearning
import Foundation

func article(_ x1: Tensor, _ x2: Tensor) -> Tensor { sin(x1) + x1 * x2 }

let x1 = Tensor(2, requiresGradient: true)
let x2 = Tensor(5, requiresGradient: true)
let y = article(x1, x2)
y.backward()

func show(_ value: Float) -> String { String(format: "%.6f", value) }
print("y = sin(x1) + x1·x2 at x1 = 2, x2 = 5")
print("y        \(show(y.scalar))")
print("dy/dx1   \(show(x1.gradients[0]))   (cos 2 + 5)")
print("dy/dx2   \(show(x2.gradients[0]))   (x1)")

// Central finite differences, evaluated without recording: (y(x + h) − y(x − h)) / 2h.
func finiteDifference(_ change: (Float) -> (Tensor, Tensor)) -> Float {
    let h: Float = 1e-2
    return withoutGradientRecording {
        let (above, below) = (change(h), change(-h))
        return (article(above.0, above.1).scalar - article(below.0, below.1).scalar) / (2 * h)
    }
}
let numeric1 = finiteDifference { (Tensor(2 + $0), Tensor(5)) }
let numeric2 = finiteDifference { (Tensor(2), Tensor(5 + $0)) }
print("finite differences (step 0.01): dy/dx1 \(show(numeric1)), dy/dx2 \(show(numeric2))")

do {
    try gradientCheck(at: [Tensor(2, requiresGradient: true), Tensor(5, requiresGradient: true)]) {
        article($0[0], $0[1])
    }
    print("gradientCheck: backward() agrees with finite differences")
} catch {
    print(error)
    exit(1)
}
