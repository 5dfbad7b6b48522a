import BenchmarkMachine
import BenchmarkSupport
import CKernels
import Glibc

/// Operands for one size: ck's call, the same work as a serial C loop, and the bytes the work
/// must read and write (each operand element once).
struct ElementwiseCase {
    let shape: String
    let bytes: Int
    let ck: () -> Void
    let serial: () -> Void
}

/// One element-wise kernel of ckernels.h: how it is shaped and counted, and its operands for
/// n elements (uniform in [-1, 1), the same every run).
struct ElementwiseKernel {
    let name: String
    /// The bytes counted, for the legend.
    let traffic: String
    /// Sizes timed before the common ones, each against the serial loop too (the small
    /// shapes of the examples).
    var smallSizes: [Int] = []
    let operands: (_ elements: Int) -> ElementwiseCase

    /// What --filter matches.
    var id: String { "elementwise \(name)" }
}

func elementwiseKernels() -> [ElementwiseKernel] {
    [
        ElementwiseKernel(name: "ck_bias_add", traffic: "x read + written, bias read: 8n + 400")
        { n in
            let rows = n / 100
            let x = randomFloats(n, seed: 1), bias = randomFloats(100, seed: 2)
            return ElementwiseCase(
                shape: "\(rows)×100", bytes: 8 * n + 400,
                ck: { ck_bias_add(Int64(rows), 100, x.pointer, 100, bias.pointer) },
                serial: { bench_serial_bias_add(Int64(rows), 100, x.pointer, bias.pointer) })
        },
        ElementwiseKernel(name: "ck_relu_forward", traffic: "x read, y written: 8n") { n in
            let x = randomFloats(n, seed: 1), y = randomFloats(n, seed: 2)
            return ElementwiseCase(
                shape: "\(n)", bytes: 8 * n,
                ck: { ck_relu_forward(Int64(n), x.pointer, y.pointer) },
                serial: { bench_serial_relu_forward(Int64(n), x.pointer, y.pointer) })
        },
        ElementwiseKernel(name: "ck_relu_backward", traffic: "y, dy read, dx written: 12n") { n in
            let y = randomFloats(n, seed: 1), dy = randomFloats(n, seed: 2)
            let dx = randomFloats(n, seed: 3)
            for i in 0..<n { y.pointer[i] = max(y.pointer[i], 0) }
            return ElementwiseCase(
                shape: "\(n)", bytes: 12 * n,
                ck: { ck_relu_backward(Int64(n), y.pointer, dy.pointer, dx.pointer) },
                serial: { bench_serial_relu_backward(Int64(n), y.pointer, dy.pointer, dx.pointer) })
        },
        ElementwiseKernel(
            name: "ck_max_pool2d_forward",
            traffic: "2×2 windows, stride 2, planes of 28×28: x read, y and Int64 argmax written: 7n"
        ) { n in
            let planes = max(n / 784, 1)
            let x = randomFloats(planes * 784, seed: 1), y = randomFloats(planes * 196, seed: 2)
            let argmax = Buffer<Int64>(count: planes * 196) { _ in 0 }
            return ElementwiseCase(
                shape: "\(planes)×28×28", bytes: 7 * planes * 784,
                ck: {
                    ck_max_pool2d_forward(Int64(planes), 28, 28, 2, 2, 2, 2, 0, 0, 14, 14, x.pointer,
                                          y.pointer, argmax.pointer)
                },
                serial: {
                    bench_serial_max_pool_2x2(Int64(planes), 28, x.pointer, y.pointer,
                                              argmax.pointer)
                })
        },
        convolutionColumns(toImages: false),
        convolutionColumns(toImages: true),
        // The spiral example's 20×3 batch, then the MLP's 32×10 and 256×10 and larger.
        softmaxCrossEntropy(classes: 3, smallShapeRows: [20]),
        softmaxCrossEntropy(classes: 10, smallShapeRows: [32, 256]),
        ElementwiseKernel(
            name: "ck_sgd momentum",
            traffic: "momentum 0.9: param, velocity read + written, grad read: 20n"
        ) { n in
            let param = randomFloats(n, seed: 1), grad = randomFloats(n, seed: 2)
            let velocity = randomFloats(n, seed: 3)
            // Small steps: millions of calls keep the values finite and normal.
            let (lr, momentum, weightDecay): (Float, Float, Float) = (1e-3, 0.9, 1e-4)
            return ElementwiseCase(
                shape: "\(n)", bytes: 20 * n,
                ck: {
                    ck_sgd(Int64(n), param.pointer, grad.pointer, velocity.pointer, lr, momentum,
                           0, weightDecay, 0, 0, 0)
                },
                serial: {
                    bench_serial_sgd_momentum(Int64(n), param.pointer, grad.pointer,
                                              velocity.pointer, lr, momentum, weightDecay)
                })
        },
        ElementwiseKernel(
            name: "ck_sgd",
            traffic: "momentum 0, no buffer: param read + written, grad read: 12n"
        ) { n in
            let param = randomFloats(n, seed: 1), grad = randomFloats(n, seed: 2)
            let (lr, weightDecay): (Float, Float) = (1e-3, 1e-4)
            return ElementwiseCase(
                shape: "\(n)", bytes: 12 * n,
                ck: { ck_sgd(Int64(n), param.pointer, grad.pointer, nil, lr, 0, 0, weightDecay, 0, 0, 0) },
                serial: { bench_serial_sgd(Int64(n), param.pointer, grad.pointer, lr, weightDecay) })
        },
    ]
}

/// ck_im2col, or ck_col2im when `toImages`, with the digits residual network's geometry: 16
/// channels of 8×8 images, 3×3 windows with padding 1 (n / 1024 images, at least one), also at
/// its batch of 32 images.
private func convolutionColumns(toImages: Bool) -> ElementwiseKernel {
    ElementwiseKernel(
        name: toImages ? "ck_col2im" : "ck_im2col",
        traffic: "16 channels of 8×8, 3×3 windows, padding 1: n image floats "
            + (toImages ? "written, 9n column floats read: 40n"
                        : "read, 9n column floats written: 40n"),
        smallSizes: [32 * 1024]
    ) { n in
        let batch = max(n / 1024, 1)
        let images = randomFloats(batch * 1024, seed: 1)
        let columns = randomFloats(9 * batch * 1024, seed: 2)
        let size = (batch: Int64(batch), channels: Int64(16), side: Int64(8))
        return ElementwiseCase(
            shape: "\(batch)×16ch", bytes: 40 * batch * 1024,
            ck: {
                if toImages {
                    ck_col2im(size.batch, size.channels, size.side, size.side, 3, 3, 1, 1, 1, 1,
                              columns.pointer, images.pointer)
                } else {
                    ck_im2col(size.batch, size.channels, size.side, size.side, 3, 3, 1, 1, 1, 1,
                              images.pointer, columns.pointer)
                }
            },
            serial: {
                bench_serial_convolution_columns(size.batch, size.channels, size.side,
                                                 toImages ? 1 : 0, images.pointer,
                                                 columns.pointer)
            })
    }
}

/// ck_softmax_cross_entropy on rows × `classes` logits (rows = n / classes), also at
/// `smallShapeRows` rows.
private func softmaxCrossEntropy(classes: Int, smallShapeRows: [Int]) -> ElementwiseKernel {
    ElementwiseKernel(
        name: "ck_softmax_cross_entropy",
        traffic: "logits read, dlogits written, labels read: 8n + 4·rows (\(classes) classes)",
        smallSizes: smallShapeRows.map { $0 * classes }
    ) { n in
        let rows = n / classes
        let logits = randomFloats(rows * classes, seed: 1)
        let dlogits = randomFloats(rows * classes, seed: 2)
        let labels = Buffer<Int32>(count: rows) { Int32($0 % classes) }
        let loss = Buffer<Float>(count: 1) { _ in 0 }
        return ElementwiseCase(
            shape: "\(rows)×\(classes)", bytes: 8 * rows * classes + 4 * rows,
            ck: {
                _ = ck_softmax_cross_entropy(Int64(rows), Int64(classes), logits.pointer,
                                             labels.pointer, dlogits.pointer, loss.pointer)
            },
            serial: {
                loss.pointer[0] = bench_serial_softmax_cross_entropy(
                    Int64(rows), Int64(classes), logits.pointer, labels.pointer, dlogits.pointer)
            })
    }
}

/// "12.3 KB", "4.8 MB".
private func formattedBytes(_ bytes: Int) -> String {
    bytes < 1_000_000
        ? formatted(Double(bytes) / 1e3, decimals: 1) + " KB"
        : formatted(Double(bytes) / 1e6, decimals: 1) + " MB"
}

/// Times each kernel at each size against memcpy moving the same bytes (half read, half
/// written) and, at the smallest size, against its serial loop; prints one row per size.
func runElementwiseBenchmarks(_ kernels: [ElementwiseKernel], sizes: [Int], threads: Int,
                              plan: TimingPlan) {
    print("""

        Element-wise kernels on \(threads) thread\(threads > 1 ? "s" : ""). n: elements. \
        GB/s = bytes the kernel must read + write / median time:
        """)
    for kernel in kernels { print("  \(kernel.name): \(kernel.traffic) bytes") }
    print("""
        memcpy: copies bytes/2 (reads bytes/2, writes bytes/2), one thread, same run. \
        Operands stay in cache when small.
        ck/memcpy = ck GB/s / memcpy GB/s. ck/serial = serial loop time / ck time, at \
        \(sizes.first!) elements and a kernel's small shapes only (should be >= 1: no \
        parallel region that does not pay).
        others: cores other processes kept busy meanwhile.

        """)
    ck_set_num_threads(Int32(threads))
    let table = Table([
        ("kernel", 24), ("n", 9), ("shape", 9), ("bytes", 8), ("ck µs", 7), ("ck GB/s", 7),
        ("memcpy GB/s", 6), ("ck/memcpy", 6), ("serial GB/s", 6), ("ck/serial", 6),
        ("ck spread", 8), ("others", 4),
    ])
    table.printHeader()
    for kernel in kernels {
        for elements in kernel.smallSizes + sizes {
            let work = kernel.operands(elements)
            let copyBytes = work.bytes / 2
            let source = Buffer<UInt8>(count: copyBytes) { UInt8(truncatingIfNeeded: $0) }
            let destination = Buffer<UInt8>(count: copyBytes) { _ in 0 }
            var contenders = [
                Contender(name: "ck", call: work.ck),
                Contender(name: "memcpy") {
                    _ = memcpy(destination.pointer, source.pointer, copyBytes)
                },
            ]
            if elements == sizes.first || kernel.smallSizes.contains(elements) {
                contenders.append(Contender(name: "serial", call: work.serial))
            }
            let before = CPUTimes()
            let timings = measureAlternately(contenders, plan: plan)
            let others = CPUTimes().otherProcesses(since: before)
            let rate = { (timing: Timing) in Double(work.bytes) / timing.median * 1e-9 }
            let (ck, copy) = (timings[0], timings[1])
            let serial = timings.count > 2 ? timings[2] : nil
            table.printRow([
                kernel.name, "\(elements)", work.shape, formattedBytes(work.bytes),
                formattedShort(ck.median * 1e6), formattedShort(rate(ck)),
                formattedShort(rate(copy)), formattedRatio(rate(ck) / rate(copy)),
                formattedShort(serial.map(rate)),
                formattedRatio(serial.map { $0.median / ck.median }), formattedSpread(ck),
                formatted(others),
            ])
        }
    }
}
