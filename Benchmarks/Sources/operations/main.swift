// One operation or layer on the graph, forward plus backward, timed for
// peers/operations_rounds.py, which runs this program beside PyTorch's
// (peers/operations_torch.py) and compares them round by round.
//
// Reads lines "<case> <threads> <iterations>" on standard input and answers each with the
// seconds one forward plus backward pass took, the mean of `iterations` passes after one
// untimed pass. A case is "<operation>:<sizes>", the sizes joined by "x"; the operations and
// what their sizes mean are those of `pass(for:)`. Every input is drawn from a fixed seed, and
// the output gradient is ones unless the case says otherwise.
//
//     printf 'exp:256x1024 1 100\n' | swift run -c release --package-path Benchmarks operations
import DeepLearning
import Foundation

nonisolated(unsafe) var generator = SeededGenerator(seed: 0)

/// A tensor of standard normal values.
func normal(_ shape: [Int], requiresGradient: Bool = true) -> Tensor {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, values: (0..<count).map { _ in generator.nextNormal() },
                  requiresGradient: requiresGradient)
}

/// The values of `drawn` as a tensor that requires a gradient.
func differentiable(_ drawn: Tensor) -> Tensor {
    Tensor(shape: drawn.shape, values: drawn.values, requiresGradient: true)
}

/// |x| + 0.1 of every value x of `drawn`, away from 0, as a tensor that requires a gradient.
func positive(_ drawn: Tensor) -> Tensor {
    Tensor(shape: drawn.shape, values: drawn.values.map { Swift.abs($0) + 0.1 },
           requiresGradient: true)
}

func ones(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, values: Array(repeating: 1, count: shape.reduce(1, *)))
}

/// The kernel size and stride of a convolution case, conv, conv<k> or conv<k>s<s> (3 and 1
/// when not given); nil for another operation.
func convolutionForm(_ operation: String) -> (kernel: Int, stride: Int)? {
    guard operation.hasPrefix("conv") else { return nil }
    let form = operation.dropFirst(4).split(separator: "s", omittingEmptySubsequences: false)
    if form == [""] { return (3, 1) }
    guard form.count <= 2, let kernel = Int(form[0]), kernel >= 1 else { return nil }
    guard form.count == 2 else { return (kernel, 1) }
    guard let stride = Int(form[1]), stride >= 1 else { return nil }
    return (kernel, stride)
}

/// The forward plus backward pass of `case`, its inputs made once.
func pass(for testCase: String) -> () -> Void {
    let parts = testCase.split(separator: ":")
    let operation = String(parts[0])
    let sizes = parts.count > 1 ? parts[1].split(separator: "x").map { Int($0)! } : []
    switch operation {
    // Element-wise on two tensors of `sizes`; div divides by b² + 1, away from 0.
    case "add", "sub", "mul", "div":
        let (a, b, dy) = (normal(sizes), normal(sizes), ones(sizes))
        let apply: (Tensor, Tensor) -> Tensor = switch operation {
        case "add": { $0 + $1 }
        case "sub": { $0 - $1 }
        case "mul": { $0 * $1 }
        default: { $0 / ($1 * $1 + 1) }
        }
        return { apply(a, b).backward(dy) }
    // [N, F] with a bias [F] added or multiplied.
    case "addbias", "mulbias":
        let (a, bias, dy) = (normal(sizes), normal([sizes.last!]), ones(sizes))
        return { (operation == "addbias" ? a + bias : a * bias).backward(dy) }
    // [N, C, H, W] times a per-channel [1, C, 1, 1].
    case "mulchan":
        let (a, scale, dy) = (normal(sizes), normal([1, sizes[1], 1, 1]), ones(sizes))
        return { (a * scale).backward(dy) }
    // A tensor and a scalar: a * 2 + 1, a * 2, a / 2, 1 - a; rdivscalar 2 / (|a| + 0.1).
    case "addscalar", "mulscalar", "divscalar", "rsubscalar", "rdivscalar":
        let drawn = normal(sizes, requiresGradient: false)
        let a = operation == "rdivscalar" ? positive(drawn) : differentiable(drawn)
        let dy = ones(sizes)
        let apply: (Tensor) -> Tensor = switch operation {
        case "addscalar": { $0 * 2 + 1 }
        case "mulscalar": { $0 * 2 }
        case "divscalar": { $0 / 2 }
        case "rsubscalar": { 1 - $0 }
        default: { 2 / $0 }
        }
        return { apply(a).backward(dy) }
    // One function of a tensor of `sizes`; pow<p> raises to the power p (pow3, pow0.5,
    // pow-1). Log, sqrt and the powers other than 2 and 3 of |x| + 0.1.
    case "exp", "log", "tanh", "sigmoid", "relu", "gelu", "sqrt", "sin", "cos", "abs",
         _ where operation.hasPrefix("pow") && Float(operation.dropFirst(3)) != nil:
        let exponent = Float(operation.dropFirst(3)) ?? 0
        let drawn = normal(sizes, requiresGradient: false)
        let x = ["log", "sqrt"].contains(operation)
            || (operation.hasPrefix("pow") && !["pow2", "pow3"].contains(operation))
            ? positive(drawn) : differentiable(drawn)
        let dy = ones(sizes)
        let function: (Tensor) -> Tensor = switch operation {
        case "exp": exp
        case "log": log
        case "tanh": tanh
        case "sigmoid": sigmoid
        case "relu": { relu($0) }
        case "gelu": gelu
        case "sqrt": sqrt
        case "sin": sin
        case "cos": cos
        case "abs": abs
        default: { pow($0, exponent) }
        }
        return { function(x).backward(dy) }
    case "sum":
        let a = normal(sizes)
        return { a.sum().backward() }
    case "mean":
        let a = normal(sizes)
        return { a.mean().backward() }
    case "max":
        let a = normal(sizes)
        return { a.max().backward() }
    // sum0, sum1, mean0, mean1, max0, max1: along the axis the last digit names.
    case "sum0", "sum1", "mean0", "mean1", "max0", "max1":
        let a = normal(sizes)
        let axis = Int(String(operation.last!))!
        var reduced = sizes
        reduced.remove(at: axis)
        let dy = ones(reduced)
        let reduce: (Tensor) -> Tensor = switch operation.dropLast() {
        case "sum": { $0.sum(alongAxis: axis) }
        case "mean": { $0.mean(alongAxis: axis) }
        default: { $0.max(alongAxis: axis).values }
        }
        return { reduce(a).backward(dy) }
    // [N, F] transposed to [F, N] (a copy), reshaped to [F, N] (a view), its middle half of
    // rows (a view), or rows (7 i) mod N for i < N gathered.
    case "transpose", "reshape", "rows", "gather":
        let a = normal(sizes)
        let (n, f) = (sizes[0], sizes[1])
        let rowIndices = (0..<n).map { 7 * $0 % n }
        let apply: (Tensor) -> Tensor = switch operation {
        case "transpose": { $0.transposed() }
        case "reshape": { $0.reshaped([f, n]) }
        case "rows": { $0.rows(n / 4..<n / 4 + n / 2) }
        default: { $0.gatheringRows(rowIndices) }
        }
        let dy = ones(apply(a).shape)
        return { apply(a).backward(dy) }
    // Two tensors of `sizes` joined along the axis the last digit names.
    case "concat0", "concat1":
        let (a, b) = (normal(sizes), normal(sizes))
        let axis = Int(String(operation.last!))!
        var joined = sizes
        joined[axis] *= 2
        let dy = ones(joined)
        return { concatenate([a, b], alongAxis: axis).backward(dy) }
    // Along the last axis, with a normal output gradient.
    case "softmax", "logsoftmax":
        let (a, dy) = (normal(sizes), normal(sizes, requiresGradient: false))
        return { (operation == "softmax" ? softmax(a) : logSoftmax(a)).backward(dy) }
    // [N, classes], sample i of class i mod classes.
    case "xent":
        let a = normal(sizes)
        let labels = (0..<sizes[0]).map { Int32($0 % sizes[1]) }
        return { try! crossEntropy(a, labels: labels).backward() }
    // Against normal targets (huber: delta 1).
    case "mse", "l1", "huber":
        let (a, target) = (normal(sizes), normal(sizes, requiresGradient: false))
        let loss: (Tensor, Tensor) -> Tensor = switch operation {
        case "mse": meanSquaredError
        case "l1": l1Loss
        default: { huberLoss($0, $1) }
        }
        return { loss(a, target).backward() }
    // Normal logits against targets 0 or 1 (whether a second normal draw is positive).
    case "bce":
        let logits = normal(sizes)
        let targets = Tensor(shape: sizes,
                             values: normal(sizes, requiresGradient: false).values.map {
                                 $0 > 0 ? 1 : 0
                             })
        return { binaryCrossEntropy(logits: logits, targets: targets).backward() }
    // Training mode, probability 0.5, a fresh mask every pass.
    case "dropout":
        let (x, dy) = (normal(sizes), ones(sizes))
        let layer = Dropout(probability: 0.5, seed: 0)
        return { layer(x).backward(dy) }
    // m x k x n: [m, k] times [k, n]; matmulta reads a stored as [k, m] transposed,
    // matmultb b stored as [n, k].
    case "matmul", "matmulta", "matmultb":
        let (m, k, n) = (sizes[0], sizes[1], sizes[2])
        let a = normal(operation == "matmulta" ? [k, m] : [m, k])
        let b = normal(operation == "matmultb" ? [n, k] : [k, n])
        let dy = ones([m, n])
        return {
            matmul(a, b, transposingA: operation == "matmulta",
                   transposingB: operation == "matmultb").backward(dy)
        }
    // batch x inputs x outputs, with or without a ReLU after it.
    case "linear", "linrelu":
        let layer = Linear(sizes[1], sizes[2])
        let (x, dy) = (normal([sizes[0], sizes[1]]), ones([sizes[0], sizes[2]]))
        return operation == "linear" ? { layer(x).backward(dy) } : { relu(layer(x)).backward(dy) }
    // N x input channels x side x output channels. conv: 3 x 3 filters at stride 1;
    // conv<k>: k x k filters at stride 1 (conv1); conv<k>s<s>: at stride s (conv3s2,
    // conv7s2); each padded by k / 2 (conv1 by 0).
    case _ where convolutionForm(operation) != nil:
        let (kernel, stride) = convolutionForm(operation)!
        let padding = kernel / 2
        let layer = Conv2D(inputChannels: sizes[1], outputChannels: sizes[3],
                           kernelSize: kernel, stride: stride, padding: padding)
        let x = normal([sizes[0], sizes[1], sizes[2], sizes[2]])
        let side = (sizes[2] + 2 * padding - kernel) / stride + 1
        let dy = ones([sizes[0], sizes[3], side, side])
        return { layer(x).backward(dy) }
    // N x channels x side: 2 x 2 windows; maxpool3s2p1 and avgpool3s2p1 3 x 3 windows, stride
    // 2, padding 1 (a ResNet's stem).
    case "maxpool", "avgpool", "maxpool3s2p1", "avgpool3s2p1":
        let (k, s, p) = operation.hasSuffix("3s2p1") ? (3, 2, 1) : (2, 2, 0)
        let layer: any Function = operation.hasPrefix("max")
            ? MaxPool2D(kernelSize: k, stride: s, padding: p)
            : AvgPool2D(kernelSize: k, stride: s, padding: p)
        let side = (sizes[2] + 2 * p - k) / s + 1
        let x = normal([sizes[0], sizes[1], sizes[2], sizes[2]])
        let dy = ones([sizes[0], sizes[1], side, side])
        return { layer(x).backward(dy) }
    // bn2d: N x channels x side; bn1d: N x features. A normal output gradient.
    case "bn2d", "bn1d":
        let shape = operation == "bn2d" ? [sizes[0], sizes[1], sizes[2], sizes[2]] : sizes
        let layer = BatchNorm(features: sizes[1])
        let (x, dy) = (normal(shape), normal(shape, requiresGradient: false))
        return { layer(x).backward(dy) }
    case "flatten":
        let x = normal(sizes)
        let dy = ones([sizes[0], sizes.dropFirst().reduce(1, *)])
        return { Flatten()(x).backward(dy) }
    default:
        fatalError("operations: unknown operation \(operation) in case \(testCase)")
    }
}

var passes: [String: () -> Void] = [:]
while let line = readLine() {
    let fields = line.split(separator: " ").map(String.init)
    guard fields.count == 3, let threads = Int(fields[1]), let iterations = Int(fields[2]),
          iterations > 0 else {
        if !fields.isEmpty { fatalError("operations: expected \"<case> <threads> <iterations>\", got \"\(line)\"") }
        continue
    }
    Threads.count = threads
    let run = passes[fields[0]] ?? pass(for: fields[0])
    passes[fields[0]] = run
    run()
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<iterations { run() }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print(seconds / Double(iterations))
    fflush(nil) // the driver reads each answer as it comes
}
