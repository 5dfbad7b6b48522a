/// A list whose first three elements are stored inline and the others in an array: a node's
/// inputs or saved tensors, so that an operation of up to three allocates no array.
struct InlineList<Element> {
    private var first: Element?, second: Element?, third: Element?
    private var more: [Element] = []
    /// The number of elements.
    private(set) var count = 0

    /// The element at `index`, in `0..<count`.
    @inline(__always)
    subscript(index: Int) -> Element {
        switch index {
        case 0: first!
        case 1: second!
        case 2: third!
        default: more[index - 3]
        }
    }

    /// Adds `element` at the end, as element `count`.
    mutating func append(_ element: Element) {
        switch count {
        case 0: first = element
        case 1: second = element
        case 2: third = element
        default: more.append(element)
        }
        count += 1
    }

    /// Drops every element.
    mutating func removeAll() {
        (first, second, third) = (nil, nil, nil)
        more = []
        count = 0
    }
}
