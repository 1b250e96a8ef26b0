/// A Protocol Buffers wire-format writer (https://protobuf.dev/programming-guides/encoding/):
/// varints, 64-bit fixed values and length-delimited fields into one growing byte array,
/// enough for the few Perfetto messages `PerfettoWriter` emits. No code generator, no
/// reflection: each message is written field by field, with the field numbers of
/// `PerfettoField`.
///
/// A nested message's length is not known until its end, so `begin` reserves four bytes and
/// `end` fills them with the length as a four-byte varint (continuation bits set on the first
/// three). The encoding guide allows such non-minimal varints and every parser reads them;
/// Perfetto's own protozero writer does the same. A nested message is at most 2^28 - 1 bytes.
struct ProtoWriter {
    /// Wire types (encoding guide, "Message Structure").
    enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
    }

    var bytes: [UInt8] = []

    init(capacity: Int = 1 << 20) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    mutating func tag(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | type.rawValue)
    }

    /// An unsigned varint field (uint32, uint64, an enum, a bool).
    mutating func uint(_ field: Int, _ value: UInt64) {
        tag(field, .varint)
        varint(value)
    }

    /// A signed varint field (int32, int64): two's complement, so a negative value takes ten
    /// bytes, as for any protobuf writer (int32 is sign-extended to 64 bits).
    mutating func int(_ field: Int, _ value: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    mutating func bool(_ field: Int, _ value: Bool) { uint(field, value ? 1 : 0) }

    /// A fixed64 field, little-endian.
    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, .fixed64)
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
    }

    /// A string or bytes field.
    mutating func string(_ field: Int, _ value: String) {
        tag(field, .lengthDelimited)
        var s = value
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Opens a nested message; returns the mark `end` needs.
    mutating func begin(_ field: Int) -> Int {
        tag(field, .lengthDelimited)
        let mark = bytes.count
        bytes.append(contentsOf: [0x80, 0x80, 0x80, 0x00])
        return mark
    }

    /// Closes the nested message opened at `mark`, writing its length.
    mutating func end(_ mark: Int) {
        let length = bytes.count - mark - 4
        precondition(length < 1 << 28, "a nested protobuf message over 256 MiB")
        bytes[mark] = UInt8(truncatingIfNeeded: length) & 0x7F | 0x80
        bytes[mark + 1] = UInt8(truncatingIfNeeded: length >> 7) & 0x7F | 0x80
        bytes[mark + 2] = UInt8(truncatingIfNeeded: length >> 14) & 0x7F | 0x80
        bytes[mark + 3] = UInt8(truncatingIfNeeded: length >> 21) & 0x7F
    }
}
