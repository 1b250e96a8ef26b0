/// Where one field sits in an event payload, resolved once per event type.
///
/// Reads go straight to the payload bytes (`loadUnaligned`), so decoding a record costs a
/// few loads and no lookups. Four bytes, so that a decoder with a dozen slots stays small in
/// the per-record switch. A big-endian trace's slots carry `swapBit` in their stored size:
/// the same switch then byte-swaps, and a little-endian trace pays nothing for it.
public struct FieldSlot: Sendable, Equatable {
    @usableFromInline let storedOffset: UInt16
    /// The size in bytes, with `swapBit` set when the field is stored big-endian.
    @usableFromInline let storedSize: UInt8
    let isRelative: Bool

    @usableFromInline static let swapBit: UInt8 = 0x80

    /// The field's offset in the payload.
    @inlinable public var offset: Int { Int(storedOffset) }
    /// The field's size in bytes.
    @inlinable public var size: Int { Int(storedSize & ~FieldSlot.swapBit) }

    /// One past the field's last byte.
    @inlinable public var end: Int { offset + size }

    /// The field as an unsigned number (zero-extended).
    @inlinable @inline(__always)
    public func unsigned(_ p: UnsafeRawBufferPointer) -> UInt64 {
        switch storedSize {
        case 8: return p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        case 4: return UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        case 2: return UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        case 1, 0x81: return UInt64(p[offset])
        case 0x88: return p.loadUnaligned(fromByteOffset: offset, as: UInt64.self).byteSwapped
        case 0x84: return UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt32.self).byteSwapped)
        case 0x82: return UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self).byteSwapped)
        default: return 0
        }
    }

    /// The field as a signed number (sign-extended from its size).
    @inlinable @inline(__always)
    public func signed(_ p: UnsafeRawBufferPointer) -> Int64 {
        switch storedSize {
        case 8: return p.loadUnaligned(fromByteOffset: offset, as: Int64.self)
        case 4: return Int64(p.loadUnaligned(fromByteOffset: offset, as: Int32.self))
        case 2: return Int64(p.loadUnaligned(fromByteOffset: offset, as: Int16.self))
        case 1, 0x81: return Int64(Int8(bitPattern: p[offset]))
        case 0x88: return p.loadUnaligned(fromByteOffset: offset, as: Int64.self).byteSwapped
        case 0x84: return Int64(p.loadUnaligned(fromByteOffset: offset, as: Int32.self).byteSwapped)
        case 0x82: return Int64(p.loadUnaligned(fromByteOffset: offset, as: Int16.self).byteSwapped)
        default: return 0
        }
    }

    /// A `__data_loc char[]` field's string (rare events only: this allocates).
    public func string(_ p: UnsafeRawBufferPointer) -> String {
        guard end <= p.count, size == 4 else { return "" }
        let loc = UInt32(truncatingIfNeeded: unsigned(p))
        var start = Int(loc & 0xffff)
        if isRelative { start += end }
        var length = Int(loc >> 16)
        guard start >= 0, start <= p.count else { return "" }
        length = min(length, p.count - start)
        let bytes = UnsafeRawBufferPointer(rebasing: p[start..<(start + length)])
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Nil when the field cannot be in a ring-buffer event (offset or size out of range).
    init?(offset: Int, size: Int, isRelative: Bool = false, bigEndian: Bool = false) {
        guard offset >= 0, offset <= Int(UInt16.max), size >= 0, size < Int(FieldSlot.swapBit) else { return nil }
        storedOffset = UInt16(offset)
        storedSize = UInt8(size) | (bigEndian && size > 1 ? FieldSlot.swapBit : 0)
        self.isRelative = isRelative
    }
}

extension Optional where Wrapped == FieldSlot {
    /// The field's value when this kernel's format has it and the record is long enough.
    @inline(__always)
    func unsigned(_ p: UnsafeRawBufferPointer) -> UInt64? {
        guard let s = self, s.end <= p.count else { return nil }
        return s.unsigned(p)
    }

    @inline(__always)
    func signed(_ p: UnsafeRawBufferPointer) -> Int64? {
        guard let s = self, s.end <= p.count else { return nil }
        return s.signed(p)
    }
}

/// Looks up the fields an event decoder needs, once per event type.
///
/// A required field that the format lacks is an error naming the event and the field; an
/// optional one (added or removed in some kernel version) is simply absent.
struct FieldResolver {
    let type: EventType
    /// Whether the trace's numbers are big-endian.
    let bigEndian: Bool
    /// The largest end of the required fields: shorter records are malformed.
    private(set) var minimumLength = 0

    /// A kprobe's unnamed arguments (`arg1`, `arg2`, ...) under the names of the parameters
    /// they are in the traced kernel's prototype (`Prototype`).
    private var positional: [String: FieldSlot] = [:]

    init(_ type: EventType, bigEndian: Bool = false) {
        self.type = type
        self.bigEndian = bigEndian
    }

    /// Reads a kprobe's `argN` fields as the function's parameters: `argN` is the name the
    /// kernel gives the Nth fetch when the user names none (trace_probe.c), and perf probe's
    /// `$argN`. A field the probe named itself wins over a position.
    init(_ type: EventType, bigEndian: Bool, parameters: [Prototype.Parameter?]) {
        self.init(type, bigEndian: bigEndian)
        for (i, parameter) in parameters.enumerated() {
            guard let parameter, type.field(parameter.name) == nil, let f = type.field("arg\(i + 1)"), !f.isRelative
            else { continue }
            let size = parameter.bytes == 0 ? f.size : min(parameter.bytes, f.size)
            let offset = bigEndian ? f.offset + f.size - size : f.offset
            positional[parameter.name] = FieldSlot(offset: offset, size: size, bigEndian: bigEndian)
        }
    }

    mutating func required(_ names: String...) throws(TraceProblem) -> FieldSlot {
        for name in names {
            if let slot = optional(name) {
                minimumLength = max(minimumLength, slot.end)
                return slot
            }
        }
        throw TraceProblem(.missingField(event: type.fullName, field: names.joined(separator: "' or '")))
    }

    func optional(_ names: String...) -> FieldSlot? { optional(names) }

    /// The first of these fields that is a string (`__data_loc char[]`, a kprobe's `:string`).
    func string(_ names: String...) -> FieldSlot? { first(names, strings: true) }

    func optional(_ names: [String]) -> FieldSlot? { first(names, strings: false) }

    /// The first of `names` the format has (only a string field, with `strings`), or else
    /// the parameter of that name an unnamed probe argument stands for.
    private func first(_ names: [String], strings: Bool) -> FieldSlot? {
        for name in names {
            if let f = type.field(name), !strings || f.isDynamic,
                let slot = FieldSlot(offset: f.offset, size: f.size, isRelative: f.isRelative, bigEndian: bigEndian)
            {
                return slot
            }
            if !strings, let slot = positional[name] { return slot }
        }
        return nil
    }
}
