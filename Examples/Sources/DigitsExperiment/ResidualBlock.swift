import DeepLearning

/// A residual block of the digits' residual network (He et al., "Deep Residual Learning",
/// 2015, basic block): two 3×3 convolutions that keep the channels and the image size, each
/// followed by batch normalization, with the input added back before the last ReLU.
/// Written from operations alone: the graph derives its gradients, reflection finds its
/// parameters ("conv1.weight", "bn1.running_mean", ...).
///
/// Shapes: input and output `[batch, channels, height, width]`.
///
/// ```swift
/// let block = ResidualBlock(channels: 16)
/// block(Tensor(shape: [32, 16, 8, 8])).shape   // [32, 16, 8, 8]
/// ```
public final class ResidualBlock: Layer {
    let conv1, conv2: Conv2D
    let bn1, bn2: BatchNorm

    /// A block of `channels` planes in and out.
    public init(channels: Int) {
        conv1 = Conv2D(inputChannels: channels, outputChannels: channels, kernelSize: 3,
                       padding: 1)
        conv2 = Conv2D(inputChannels: channels, outputChannels: channels, kernelSize: 3,
                       padding: 1)
        bn1 = BatchNorm(features: channels)
        bn2 = BatchNorm(features: channels)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        relu(x + bn2(conv2(relu(bn1(conv1(x))))))
    }
}
