/// A map from pfn to a small value: open addressing with linear probing, a multiplicative
/// (Fibonacci) hash, and backward-shift deletion (no tombstones, so lookups stay short however
/// many folios come and go).
///
/// The engine looks up a pfn several times per record. Swift's `Dictionary` hashes with
/// SipHash seeded per process, which cost more than the rest of a lookup (a profile of
/// `analyze` showed the hasher and bucket search at 16% of the run); pfns are not chosen by an
/// adversary, and multiplying by 2^64/phi spreads the dense, aligned pfn ranges of real memory
/// over the table.
struct PfnTable<Value: FixedWidthInteger> {
    /// `UInt64.max` marks an empty bucket: no real pfn, inode or cgroup id is that large, but a
    /// damaged record can carry it, so its value is kept beside the buckets (`topValue`).
    fileprivate static var empty: UInt64 { .max }
    private var keys: [UInt64]
    private var values: [Value]
    private var shift: UInt64
    /// The value of key `UInt64.max`: in a bucket it would read as empty, and a lookup of it
    /// would find the first empty bucket's value (another key's folio, or 0).
    private var topValue: Value?
    private(set) var count = 0

    init() {
        keys = Array(repeating: Self.empty, count: 64)
        values = Array(repeating: 0, count: 64)
        shift = 64 - 6
    }

    private var mask: Int { keys.count - 1 }

    /// Buckets allocated (a key and a value each).
    var capacity: Int { keys.count }

    @inline(__always)
    private func ideal(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The bucket holding `key`, or the empty bucket where it would go.
    @inline(__always)
    private func bucket(_ key: UInt64) -> (index: Int, found: Bool) {
        var i = ideal(key)
        while true {
            let k = keys[i]
            if k == key { return (i, true) }
            if k == Self.empty { return (i, false) }
            i = (i + 1) & mask
        }
    }

    subscript(key: UInt64) -> Value? {
        get {
            if key == Self.empty { return topValue }
            let (i, found) = bucket(key)
            return found ? values[i] : nil
        }
        set {
            guard let newValue else {
                removeValue(forKey: key)
                return
            }
            if key == Self.empty {
                if topValue == nil { count += 1 }
                topValue = newValue
                return
            }
            let (i, found) = bucket(key)
            if found {
                values[i] = newValue
                return
            }
            keys[i] = key
            values[i] = newValue
            count += 1
            if count * 10 > keys.count * 7 { grow() }
        }
    }

    /// The value of `key`, or `initial` stored for it first (`Dictionary[key, default:]`).
    subscript(key: UInt64, default initial: @autoclosure () -> Value) -> Value {
        get { self[key] ?? initial() }
        set { self[key] = newValue }
    }

    @discardableResult
    mutating func removeValue(forKey key: UInt64) -> Value? {
        if key == Self.empty {
            defer { topValue = nil }
            if topValue != nil { count -= 1 }
            return topValue
        }
        var (hole, found) = bucket(key)
        guard found else { return nil }
        let old = values[hole]
        count -= 1
        // Pull back each following entry of the run whose ideal bucket is not between the hole
        // and itself, so that every entry stays reachable from its ideal bucket.
        var j = hole
        while true {
            j = (j + 1) & mask
            let k = keys[j]
            if k == Self.empty { break }
            let home = ideal(k)
            let reachable = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if reachable { continue }
            keys[hole] = k
            values[hole] = values[j]
            hole = j
        }
        keys[hole] = Self.empty
        values[hole] = 0
        return old
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = Array(repeating: Self.empty, count: oldKeys.count * 2)
        values = Array(repeating: 0, count: oldKeys.count * 2)
        shift -= 1
        count = topValue == nil ? 0 : 1
        for i in oldKeys.indices where oldKeys[i] != Self.empty { self[oldKeys[i]] = oldValues[i] }
    }
}

extension PfnTable: Sequence {
    /// Every (pfn, value), in no particular order.
    struct Iterator: IteratorProtocol {
        fileprivate let keys: [UInt64]
        fileprivate let values: [Value]
        fileprivate var top: Value?
        fileprivate var i = 0

        mutating func next() -> (pfn: UInt64, value: Value)? {
            while i < keys.count {
                defer { i += 1 }
                if keys[i] != PfnTable.empty { return (keys[i], values[i]) }
            }
            guard let v = top else { return nil }
            top = nil
            return (PfnTable.empty, v)
        }
    }

    func makeIterator() -> Iterator { Iterator(keys: keys, values: values, top: topValue) }
}
