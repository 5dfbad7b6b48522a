import CKernels

/// An optimizer whose step of a `Linear` weight can run inside the matrix product that
/// computes the weight's gradient (`ck_sgemm_sgd`, `ck_sgemm_adam`, `ck_sgemm_rmsprop`), with
/// the same result: ``SGD``, ``Adam``, ``AdamW`` and ``RMSProp``, with all their settings.
/// `Model.accumulateParameterGradients(_:thenStep:)` and `Model.fit` use it.
protocol StepsInProduct: Optimizer {
    /// Lets the product that computes `parameter`'s gradient take this step's update of it:
    /// `product` computes the gradient with the `ProductStep` it is given (`ProductStep.run`)
    /// and returns whether that took the step (else the gradient is stored, for `step()`).
    /// When it did, the next `step()` leaves the parameter out. Returns whether `product` ran:
    /// not when `parameter` is not listed exactly once in `parameters`, or was updated so
    /// already this step.
    func stepInProduct(of parameter: Tensor, _ product: (ProductStep) -> Bool) -> Bool
}

/// One optimizer's step of one parameter matrix, with what its C kernel needs beyond the
/// product: the optimizer's buffers for that parameter and the step's settings.
enum ProductStep {
    /// `ck_sgd`'s: the momentum buffer (nil without momentum).
    case sgd(velocity: UnsafeMutablePointer<Float>?, learningRate: Float, momentum: Float,
             dampening: Float, weightDecay: Float, nesterov: Int32, maximize: Int32,
             firstStep: Int32)
    /// `ck_adam`'s: the two moments, the largest second moments (nil without amsgrad) and
    /// this step's bias corrections.
    case adam(firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
              maxSecondMoment: UnsafeMutablePointer<Float>?, learningRate: Float,
              betas: (Float, Float), eps: Float, weightDecay: Float, maximize: Int32,
              decoupledWeightDecay: Int32, corrections: (Double, Double))
    /// `ck_rmsprop`'s: the average of g², and of g (centered) and the momentum buffer when
    /// the optimizer has them.
    case rmsProp(squareAverage: UnsafeMutablePointer<Float>,
                 gradientAverage: UnsafeMutablePointer<Float>?,
                 momentumBuffer: UnsafeMutablePointer<Float>?, learningRate: Float, alpha: Float,
                 eps: Float, weightDecay: Float, momentum: Float, maximize: Int32)

    /// G (m x n, dense) = op(A)·op(B), with `ck_sgemm`'s transposes and leading dimensions,
    /// updating `param` (m x n, dense) in the product where the kernel can (`ck_sgemm_sgd`,
    /// `ck_sgemm_adam` or `ck_sgemm_rmsprop`). Returns whether it did; otherwise G is in `grad`.
    func run(transA: Int32, transB: Int32, m: Int64, n: Int64, k: Int64, a: UnsafePointer<Float>,
             lda: Int64, b: UnsafePointer<Float>, ldb: Int64, grad: UnsafeMutablePointer<Float>,
             param: UnsafeMutablePointer<Float>) -> Bool {
        switch self {
        case let .sgd(velocity, learningRate, momentum, dampening, weightDecay, nesterov,
                      maximize, firstStep):
            ck_sgemm_sgd(transA, transB, m, n, k, 1, a, lda, b, ldb, grad, param, velocity,
                         learningRate, momentum, dampening, weightDecay, nesterov, maximize,
                         firstStep) == 1
        case let .adam(firstMoment, secondMoment, maxSecondMoment, learningRate, betas, eps,
                       weightDecay, maximize, decoupledWeightDecay, corrections):
            ck_sgemm_adam(transA, transB, m, n, k, 1, a, lda, b, ldb, grad, param, firstMoment,
                          secondMoment, maxSecondMoment, learningRate, betas.0, betas.1, eps,
                          weightDecay, maximize, decoupledWeightDecay, corrections.0,
                          corrections.1) == 1
        case let .rmsProp(squareAverage, gradientAverage, momentumBuffer, learningRate, alpha, eps,
                          weightDecay, momentum, maximize):
            ck_sgemm_rmsprop(transA, transB, m, n, k, 1, a, lda, b, ldb, grad, param, squareAverage,
                             gradientAverage, momentumBuffer, learningRate, alpha, eps, weightDecay,
                             momentum, maximize) == 1
        }
    }
}

/// Which of an optimizer's parameters took this step in their gradients' products: its
/// `step()` leaves those out.
struct ParametersSteppedInProducts {
    /// The index of each parameter listed once in the optimizer's parameters. One listed twice
    /// is never updated in a product: the step would update it again.
    private let indexOfParameter: [ObjectIdentifier: Int]
    private var stepped: [Bool]

    init(_ parameters: [Tensor]) {
        var indices: [ObjectIdentifier: Int] = [:]
        var listedTwice: Set<ObjectIdentifier> = []
        for (index, parameter) in parameters.enumerated() {
            let id = ObjectIdentifier(parameter)
            if indices.updateValue(index, forKey: id) != nil { listedTwice.insert(id) }
        }
        for id in listedTwice { indices[id] = nil }
        indexOfParameter = indices
        stepped = Array(repeating: false, count: parameters.count)
    }

    /// The index of `parameter` if it may take this step in its product: listed once, and not
    /// stepped so already.
    func pendingIndex(of parameter: Tensor) -> Int? {
        guard let index = indexOfParameter[ObjectIdentifier(parameter)], !stepped[index] else {
            return nil
        }
        return index
    }

    /// Records whether the parameter at `index` took this step in its product.
    mutating func record(_ index: Int, stepped: Bool) { self.stepped[index] = stepped }

    /// Whether the parameter at `index` took this step in its product; forgets it, for the
    /// next step.
    mutating func takeStepped(_ index: Int) -> Bool {
        guard stepped[index] else { return false }
        stepped[index] = false
        return true
    }
}
