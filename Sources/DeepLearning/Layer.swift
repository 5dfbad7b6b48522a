/// Anything that maps a tensor to a tensor with recorded operations, and holds parameters and
/// sub-layers: the building block of `Model`, as PyTorch's `nn.Module`.
///
/// A layer written from operations needs nothing but `callAsFunction(_:)` and its stored
/// properties: the graph derives its gradients, and reflection (`Mirror`) finds its state.
///
/// ```swift
/// final class ResidualBlock: Layer {
///     let first = Linear(64, 64), second = Linear(64, 64)
///     func callAsFunction(_ x: Tensor) -> Tensor { relu(x + second(relu(first(x)))) }
/// }
/// let block = ResidualBlock()
/// block.namedStateTensors.map(\.name)  // ["first.weight", "first.bias", "second.weight", ...]
/// ```
///
/// What reflection finds among a layer's stored properties (`let`, `var`, `lazy var`, of the
/// class and its superclasses, in declaration order):
/// - a leaf `Tensor` that requires a gradient is a **parameter** (the optimizer updates it;
///   saved);
/// - a leaf `Tensor` that does not is a **buffer** (saved and loaded, never updated by an
///   optimizer: PyTorch's `register_buffer`); a tensor an operation computed is not state;
/// - a `Counter` is a counter (saved as an I64 scalar);
/// - a layer is a **sub-layer**, its state named under the property's name ("first.weight");
/// - an array of these names its elements by index ("blocks.1.second.bias"), arrays of arrays
///   by both indices ("grid.0.1.weight");
/// - a dictionary of these names its values by key, in the order of the keys' descriptions
///   ("heads.digits.weight");
/// - an optional is looked through (a nil one, or a nil element, holds nothing); anything else
///   (sizes, closures, generators, structs and tuples) is ignored.
///
/// A `lazy var` counts once it has been used: reflection cannot run its initializer, so asking
/// for the state of a layer whose `lazy var` of a tensor, counter or layer (a layer's class,
/// `any Layer` or `any Function`, or an array, dictionary or optional of them) is still unused
/// stops with a message (its parameters would be missing from the optimizer and the file).
/// Of an existential type of your own protocol (`any Block` for `protocol Block: Layer`) the
/// type does not tell that it holds a layer: declare such a property with `let` or `var`.
///
/// The built-in layers (`Linear`, `Conv2D`, ...) are `Function`s, which refine `Layer`: they
/// list their state explicitly and also run forward and backward passes of their own, which
/// `Model.fit` fuses. Every `Function` is a layer, so both kinds mix in one `Model`.
public protocol Layer: AnyObject, CustomStringConvertible {
    /// The layer's output for `input`, with its operations recorded for `backward()` when a
    /// parameter or the input requires a gradient. What a call saves for its backward pass
    /// belongs to that call's nodes, so a layer may be called several times in one graph.
    func callAsFunction(_ input: Tensor) -> Tensor
    /// The layers directly inside this one, with the names their state goes by. By default
    /// found by reflection; none for a `Function`; "0", "1", ... for a `Model`.
    var namedSublayers: [(name: String, layer: any Layer)] { get }
    /// This layer's own parameters (not its sub-layers'), with a name each. By default found
    /// by reflection: the stored tensors that require a gradient. A `Model`'s own list is
    /// empty; every parameter below a layer with its dotted name, as PyTorch's recursive
    /// `named_parameters()`, is `namedStateTensors.filter { $0.tensor.requiresGradient }`.
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// This layer's own buffers (not its sub-layers'): state saved with the model that no
    /// optimizer updates. By default found by reflection: the stored tensors that require no
    /// gradient.
    var namedBuffers: [(name: String, tensor: Tensor)] { get }
    /// This layer's own counts (never negative), saved as I64 scalars. By default found by
    /// reflection: the stored `Counter`s.
    var namedCounters: [(name: String, counter: Counter)] { get }
    /// The names, among `namedParameters` and `namedBuffers`, of matrices that files hold
    /// transposed (see `Function`). By default none.
    var namesTransposedInFiles: Set<String> { get }
    /// Every parameter of this layer and its sub-layers, each once, in the order of
    /// `namedStateTensors`: what an optimizer updates.
    var parameters: [Tensor] { get }
    /// Draws this layer's own parameters afresh (not its sub-layers': `Model` visits those).
    /// By default nothing.
    func initializeParameters(using generator: inout SeededGenerator)
    /// Switches this layer's own behaviour between training and evaluation (`Model` visits
    /// the sub-layers). By default nothing.
    func setTraining(_ isTraining: Bool)
    /// The generator this layer draws from in training (see `Function`); by default nil.
    var trainingGenerator: SeededGenerator? { get set }
}

extension Layer {
    public var description: String { "\(type(of: self))" }

    public var namedSublayers: [(name: String, layer: any Layer)] { reflectedState.sublayers }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        reflectedState.tensors.filter(\.tensor.requiresGradient)
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        reflectedState.tensors.filter { !$0.tensor.requiresGradient }
    }

    public var namedCounters: [(name: String, counter: Counter)] { reflectedState.counters }

    public var namesTransposedInFiles: Set<String> { [] }

    public var parameters: [Tensor] { uniqueParameters(of: layerTree) }

    public func initializeParameters(using generator: inout SeededGenerator) {}

    public func setTraining(_ isTraining: Bool) {}

    public var trainingGenerator: SeededGenerator? {
        get { nil }
        set {}
    }

    /// This layer and every layer below it, depth first, each before its sub-layers, with its
    /// dotted path from here ("" for this layer, "blocks.1.first"). A layer reachable along
    /// two paths (shared) is listed under both. A layer below itself (a cycle, which
    /// `Model.add` refuses but assigning a layer's property can make: `holder.inner = model`
    /// after `model.add(holder)`) stops with a message naming its paths, as the walk would
    /// never end.
    public var layerTree: [(path: String, layer: any Layer)] { layerTree(for: "Layer.layerTree") }

    /// `layerTree`, whose stop at a cycle names `method`.
    func layerTree(for method: String) -> [(path: String, layer: any Layer)] {
        var tree: [(path: String, layer: any Layer)] = []
        var ancestors: [Int] = []
        appendLayerTree(of: self, at: "", to: &tree, below: &ancestors, for: method)
        return tree
    }

    /// The parameters and buffers of this layer and its sub-layers under PyTorch's dotted
    /// `state_dict` names ("0.first.weight"), in the order of `layerTree`.
    public var namedStateTensors: [(name: String, tensor: Tensor)] {
        layerTree.flatMap { path, layer in
            (layer.namedParameters + layer.namedBuffers).map {
                (name: path.isEmpty ? $0.name : "\(path).\($0.name)", tensor: $0.tensor)
            }
        }
    }

    /// What reflection finds in this layer's stored properties (see `Layer`).
    private var reflectedState: ReflectedState {
        var state = ReflectedState()
        var mirror: Mirror? = Mirror(reflecting: self)
        var mirrors: [Mirror] = []
        while let current = mirror {
            mirrors.append(current)
            mirror = current.superclassMirror
        }
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard var name = child.label else { continue }
                if name.hasPrefix(lazyStoragePrefix) {
                    name.removeFirst(lazyStoragePrefix.count)
                    requireInitializedIfState(lazyStorage: child.value, named: name)
                }
                state.add(child.value, named: name)
            }
        }
        return state
    }

    /// Stops with a message naming this layer and the property when `storage`, the storage of
    /// the `lazy var` `name`, is still empty and its type is one that holds state (a tensor, a
    /// counter, a layer, or an array or optional of them): reflection cannot run its
    /// initializer, so the state would be missing from `parameters` and from saved files until
    /// something first used the property.
    private func requireInitializedIfState(lazyStorage storage: Any, named name: String) {
        guard let optional = type(of: storage) as? any OptionalStorage.Type,
              Mirror(reflecting: storage).children.isEmpty else { return }
        require(!holdsState(optional.wrappedType),
                "\(self): lazy var \(name) of type \(optional.wrappedType) is not initialized yet, so reflection cannot find its state; declare it with let or var (or use it in init)")
    }
}

/// The prefix Swift gives the storage of a `lazy var` in a `Mirror`: an optional, nil until
/// the property is first used.
private let lazyStoragePrefix = "$__lazy_storage_$_"

/// An `Optional` type seen through `Any.Type`: the type it wraps.
private protocol OptionalStorage {
    static var wrappedType: Any.Type { get }
}

extension Optional: OptionalStorage {
    fileprivate static var wrappedType: Any.Type { Wrapped.self }
}

/// An `Array` seen through `Any`: the type of its elements, and the elements.
private protocol ArrayType {
    static var elementType: Any.Type { get }
    var elementsAsAny: [Any] { get }
    var firstAsAny: Any? { get }
}

extension Array: ArrayType {
    fileprivate static var elementType: Any.Type { Element.self }
    fileprivate var elementsAsAny: [Any] { map { $0 } }
    fileprivate var firstAsAny: Any? { first.map { $0 as Any } }
}

/// A `Dictionary` seen through `Any`: the type of its values, and its entries in the order of
/// their keys' descriptions, which name them.
private protocol DictionaryType {
    static var valueType: Any.Type { get }
    var entriesByKey: [(key: String, value: Any)] { get }
    var someValueAsAny: Any? { get }
}

extension Dictionary: DictionaryType {
    fileprivate static var valueType: Any.Type { Value.self }
    fileprivate var entriesByKey: [(key: String, value: Any)] {
        map { (key: "\($0.key)", value: $0.value as Any) }.sorted { $0.key < $1.key }
    }
    fileprivate var someValueAsAny: Any? { values.first.map { $0 as Any } }
}

/// Whether a stored property of `type` holds what reflection counts as state (see `Layer`).
private func holdsState(_ type: Any.Type) -> Bool {
    if type is Tensor.Type || type is Counter.Type || type is any Layer.Type
        || type == (any Layer).self || type == (any Function).self {
        return true
    }
    if let array = type as? any ArrayType.Type { return holdsState(array.elementType) }
    if let dictionary = type as? any DictionaryType.Type {
        return holdsState(dictionary.valueType)
    }
    if let optional = type as? any OptionalStorage.Type { return holdsState(optional.wrappedType) }
    return false
}

/// Whether `value`, an array or dictionary, may hold state: by the type of its elements, or,
/// for elements of an existential type (`[any Function]`), by the type of one element.
private func mayHoldState(_ value: Any) -> Bool {
    if holdsState(type(of: value)) { return true }
    if let array = value as? any ArrayType, let first = array.firstAsAny {
        return mayHoldState(first)
    }
    if let dictionary = value as? any DictionaryType, let some = dictionary.someValueAsAny {
        return mayHoldState(some)
    }
    return false
}

/// The tensors, counters and sub-layers of a layer's stored properties.
private struct ReflectedState {
    var tensors: [(name: String, tensor: Tensor)] = []
    var counters: [(name: String, counter: Counter)] = []
    var sublayers: [(name: String, layer: any Layer)] = []

    mutating func add(_ value: Any, named name: String) {
        switch value {
        case let tensor as Tensor where tensor.isLeaf: tensors.append((name, tensor))
        case is Tensor: break // an operation's result kept by the layer: not state
        case let counter as Counter: counters.append((name, counter))
        case let layer as any Layer: sublayers.append((name, layer))
        // Only containers whose type can hold state are walked (not an array of floats).
        case let array as any ArrayType where mayHoldState(array):
            for (index, element) in array.elementsAsAny.enumerated() {
                add(element, named: "\(name).\(index)")
            }
        case let dictionary as any DictionaryType where mayHoldState(dictionary):
            for (key, element) in dictionary.entriesByKey { add(element, named: "\(name).\(key)") }
        default: break
        }
    }
}

/// Appends `layer` at `path` and the layers below it, depth first, to `tree` (`layerTree`).
/// `ancestors`: the indices in `tree` of the layers on `path` above `layer`, from the top.
/// Stops with a message naming `method` when `layer` is one of them.
private func appendLayerTree(of layer: any Layer, at path: String,
                             to tree: inout [(path: String, layer: any Layer)],
                             below ancestors: inout [Int], for method: String) {
    if let ancestor = ancestors.first(where: { tree[$0].layer === layer }) {
        let above = tree[ancestor].path
        stop(above.isEmpty
             ? "\(method): " + cycleMessage(holder: layer, at: path)
             : "\(method): at path \(above) of \(tree[0].layer), "
                + cycleMessage(holder: layer, at: String(path.dropFirst(above.count + 1))))
    }
    ancestors.append(tree.count)
    tree.append((path: path, layer: layer))
    for (name, sublayer) in layer.namedSublayers {
        appendLayerTree(of: sublayer, at: path.isEmpty ? name : "\(path).\(name)", to: &tree,
                        below: &ancestors, for: method)
    }
    ancestors.removeLast()
}

/// The message of a stop at a cycle: `holder` among its own layers, at the dotted `path`
/// below itself.
func cycleMessage(holder: any Layer, at path: String) -> String {
    "\(holder) is its own layer \(path), so running it or walking its layers would never end; a layer cannot hold itself, directly or through the layers it holds"
}

/// The parameters of the layers of `tree`, each tensor once (a layer or tensor shared by two
/// paths is updated once), in order.
func uniqueParameters(of tree: [(path: String, layer: any Layer)]) -> [Tensor] {
    firstOccurrences(of: tree.flatMap { $0.layer.namedParameters.map(\.tensor) })
}

/// `objects` without the repeats of an object (one reachable along two paths), in order.
func firstOccurrences<Object: AnyObject>(of objects: [Object]) -> [Object] {
    var seen = Set<ObjectIdentifier>()
    return objects.filter { seen.insert(ObjectIdentifier($0)).inserted }
}
