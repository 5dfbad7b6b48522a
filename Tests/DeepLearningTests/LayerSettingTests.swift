import XCTest
@testable import DeepLearning

/// Layer settings and sizes that cannot work stop with a message naming the value: NaN as
/// "is NaN", sizes too large to address before any arithmetic on them overflows.
final class LayerSettingTests: XCTestCase {
    func testDropoutStopsOnANaNProbability() throws {
        try assertStops(withMessage: "Dropout: probability is NaN; it must be in [0, 1)") {
            _ = Dropout(probability: .nan)
        }
    }

    func testBatchNormStopsOnANaNMomentum() throws {
        try assertStops(withMessage: "BatchNorm(2): momentum is NaN; it must be in [0, 1]") {
            _ = BatchNorm(features: 2, momentum: .nan)
        }
    }

    /// A padding whose padded size does not fit in an Int (the kernels' size + 2·padding
    /// would overflow) is named as such, not as an input smaller than the kernel.
    func testConv2DStopsOnAPaddingTooLargeToAddress() throws {
        try assertStops(withMessage: "Conv2D(1 → 1, kernel 2, stride 1, padding 9223372036854775807): input of shape [1, 1, 1, 1] padded by 9223372036854775807 on each side has too many rows or columns to address") {
            _ = Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 2, padding: .max)
                .forward(Tensor(shape: [1, 1, 1, 1]))
        }
    }

    /// A padding whose output or unfolded input has too many elements stops with the shape
    /// before counting them overflows, in the layer's forward pass and as a recorded
    /// operation.
    func testConv2DStopsWhenTheUnfoldedInputIsTooLargeToAddress() throws {
        try assertStops(withMessage: unfoldedInputTooLarge) {
            _ = hugelyPaddedConvolution.forward(Tensor(shape: [1, 1, 1, 1]))
        }
    }

    func testRecordedConv2DStopsWhenTheUnfoldedInputIsTooLargeToAddress() throws {
        try assertStops(withMessage: unfoldedInputTooLarge) {
            _ = hugelyPaddedConvolution(Tensor(shape: [1, 1, 1, 1]))
        }
    }

    /// A padding whose buffers have few enough elements to address but more bytes than any
    /// machine has stops with the layer, the buffer and the bytes named: the unfolded input,
    /// which the layer's forward pass allocates first, and the output, which the recorded
    /// operation allocates first.
    func testConv2DStopsWhenItsUnfoldedInputCannotBeAllocated() throws {
        try assertStops(withMessage: "Conv2D(1 → 1, kernel 2, stride 1, padding 268435456): for input of shape [1, 1, 1, 1], the unfolded input: shape [1, 4, 1, 288230376151711744] needs 4611686018427387904 bytes, which the system cannot allocate") {
            _ = unallocatablyPaddedConvolution.forward(Tensor(shape: [1, 1, 1, 1]))
        }
    }

    func testRecordedConv2DStopsWhenItsOutputCannotBeAllocated() throws {
        try assertStops(withMessage: "Conv2D(1 → 1, kernel 2, stride 1, padding 268435456): for input of shape [1, 1, 1, 1], the output: shape [1, 1, 536870912, 536870912] needs 1152921504606846976 bytes, which the system cannot allocate") {
            _ = unallocatablyPaddedConvolution(Tensor(shape: [1, 1, 1, 1]))
        }
    }

    /// The positions of the maxima, which the layer's forward pass asks for after its output
    /// (twice the output's bytes), stop with the layer and the bytes named when the system
    /// refuses them: here the address space is limited to fit the output, not the positions.
    func testMaxPool2DStopsWhenThePositionsOfItsMaximaCannotBeAllocated() throws {
        try assertStops(withMessage: "MaxPool2D(kernel 1, stride 1): the positions of the maxima needs 134217728 bytes, which the system cannot allocate") {
            let pool = MaxPool2D(kernelSize: 1)
            let input = Tensor(uninitializedShape: [1, 1, 1 << 12, 1 << 12])     // 64 MiB
            limitAddressSpace(toCurrentPlus: 96 << 20)
            _ = pool.forward(input)
        }
    }

    private var unallocatablyPaddedConvolution: Conv2D {
        Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 2, padding: 1 << 28)
    }

    private var hugelyPaddedConvolution: Conv2D {
        Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 2, padding: 1 << 29)
    }

    private let unfoldedInputTooLarge = "Conv2D(1 → 1, kernel 2, stride 1, padding 536870912): for input of shape [1, 1, 1, 1], the unfolded input: shape [1, 4, 1073741824, 1073741824] has too many elements to address"

    /// Sizes whose parameters have too many elements to address stop with the layer and the
    /// parameter named, before any memory is asked for.
    func testLinearStopsOnSizesTooLargeToAddress() throws {
        try assertStops(withMessage: "Linear(4611686018427387903 → 4): the weight: shape [4611686018427387903, 4] has too many elements to address") {
            _ = Linear(Int.max / 2, 4)
        }
    }

    /// Sizes whose weight the system cannot allocate (2^62 bytes, beyond any address space)
    /// stop with the layer, the parameter and the bytes named.
    func testLinearStopsWhenItsWeightCannotBeAllocated() throws {
        try assertStops(withMessage: "Linear(1099511627776 → 1048576): the weight: shape [1099511627776, 1048576] needs 4611686018427387904 bytes, which the system cannot allocate") {
            _ = Linear(1 << 40, 1 << 20)
        }
    }

    func testConv2DStopsOnAKernelTooLargeToAddress() throws {
        try assertStops(withMessage: "Conv2D(3 → 8, kernel 4294967296, stride 1, padding 0): the weight: shape [8, 3, 4294967296, 4294967296] has too many elements to address") {
            _ = Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 1 << 32)
        }
    }

    func testConv2DStopsOnChannelsTooManyToAddress() throws {
        try assertStops(withMessage: "Conv2D(1 → 4611686018427387904, kernel 1, stride 1, padding 0): the weight: shape [4611686018427387904, 1, 1, 1] has too many elements to address") {
            _ = Conv2D(inputChannels: 1, outputChannels: 1 << 62, kernelSize: 1)
        }
    }

    func testBatchNormStopsOnFeaturesTooManyToAddress() throws {
        try assertStops(withMessage: "BatchNorm(4611686018427387903): the weight: shape [4611686018427387903] has too many elements to address") {
            _ = BatchNorm(features: Int.max / 2)
        }
    }
}
