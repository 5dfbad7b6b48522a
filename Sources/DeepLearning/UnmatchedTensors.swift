/// The tensors that `Model.load(from:strict:)` with `strict: false` found in only one of the
/// model and the file, as PyTorch's `load_state_dict(strict=False)` returns them
/// (`missing_keys`, `unexpected_keys`). A strict load throws instead, and returns both empty.
///
/// Its description lists both, and, when the names of one side are those of the other with
/// one prefix before them (a file saved from PyTorch's `DataParallel` names its tensors
/// "module.0.weight"), names that prefix, as the error of a strict load does.
///
/// ```swift
/// let unmatched = try model.load(from: "pretrained.safetensors", strict: false)
/// if !unmatched.missing.isEmpty { print("left as drawn:", unmatched) }
/// ```
public struct UnmatchedTensors: Equatable, Sendable, CustomStringConvertible {
    /// The model's tensors the file lacks, left as they were, in the model's order.
    public let missing: [String]
    /// The file's tensors the model has none of that name for, not read, sorted.
    public let unexpected: [String]

    /// "missing "0.weight", "0.bias"; unexpected "module.0.bias", "module.0.weight" (the
    /// file's names start with "module.": strip it to load them)"; "none" for an empty list.
    public var description: String {
        func listed(_ names: [String]) -> String { names.isEmpty ? "none" : quotedList(names) }
        return "missing \(listed(missing)); unexpected \(listed(unexpected))"
            + prefixHint(missing: missing, unused: unexpected)
    }
}

/// When the model's `missing` names and the file's `unused` ones differ by one prefix, a
/// sentence naming it; else the empty string. The file's names carry it ("module." from
/// PyTorch's `DataParallel`) when every missing name is an unused one without it, or every
/// unused name a missing one with it (a file of part of the model, or a model of part of the
/// file); the model's names carry it (a file saved from a model nested in this one) the other
/// way round.
func prefixHint(missing: [String], unused: [String]) -> String {
    if let prefix = commonPrefix(missing, unused, added: false)
        ?? commonPrefix(unused, missing, added: true) {
        return " (the file's names start with \"\(prefix)\": strip it to load them)"
    }
    if let prefix = commonPrefix(missing, unused, added: true)
        ?? commonPrefix(unused, missing, added: false) {
        return " (the model's names are the file's with \"\(prefix)\" before them: add it to load them)"
    }
    return ""
}

/// The prefix `p`, not empty, such that `p` + every name of `names` is one of `others`
/// (not `added`), or every name of `names` is `p` + one of `others` (`added`); nil when
/// `names` is empty or there is none. The candidates are what a name of `others` leaves
/// before the first of `names` ending it, or the other way round.
private func commonPrefix(_ names: [String], _ others: [String], added: Bool) -> String? {
    guard let first = names.first else { return nil }
    let known = Set(others)
    for other in others {
        let (long, short) = added ? (first, other) : (other, first)
        guard long.count > short.count, long.hasSuffix(short) else { continue }
        let prefix = String(long.dropLast(short.count))
        if names.allSatisfy({ name in
            added ? name.hasPrefix(prefix) && known.contains(String(name.dropFirst(prefix.count)))
                : known.contains(prefix + name)
        }) {
            return prefix
        }
    }
    return nil
}
