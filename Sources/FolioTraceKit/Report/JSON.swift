/// A JSON value with ordered keys and explicit nulls, for the reports whose shape the issues
/// fix (`null` where a value is unknown, keys in a readable order).
///
/// Not `indirect`: arrays and objects already hold their elements out of line, and an
/// indirect enum boxes every value on the heap, numbers and `null` included (a report of
/// 70,000 evidence rows made and freed hundreds of thousands of boxes).
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func optional(_ v: UInt64?) -> JSON { v.map(JSON.uint) ?? .null }
    public static func optional(_ v: String?) -> JSON { v.map(JSON.string) ?? .null }

    /// Indented, two spaces a level, every line after the first prefixed with `indent`.
    ///
    /// Written into one byte buffer that grows as it goes: a report of thousands of findings
    /// is megabytes of JSON, and building it as nested `String`s (each level mapped, joined
    /// and concatenated into its parent) copied every byte once per level and allocated per
    /// value: 83% of `analyze --format json` on linux-6.12/freed-while-isolated.dat (10 MB
    /// of output) went there (docs/performance.md).
    public func rendered(indent: String = "") -> String {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 12)
        write(into: &out, indent: Array(indent.utf8), depth: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// On one line, for JSON-lines output.
    public var compact: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        writeCompact(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        JSON.quote(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `rendered`'s writer: the value at `depth` levels below `indent`. Elements are read in
    /// place through the arrays' buffers: iterating the arrays copied each element out and
    /// back (a retain and a release of each string and nested array).
    private func write(into out: inout [UInt8], indent: [UInt8], depth: Int) {
        switch self {
        case .array(let a):
            if a.isEmpty { return JSON.ascii("[]", into: &out) }
            out.append(UInt8(ascii: "["))
            a.withUnsafeBufferPointer { elements in
                for i in elements.indices {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(UInt8(ascii: "\n"))
                    JSON.pad(indent, depth + 1, into: &out)
                    elements[i].write(into: &out, indent: indent, depth: depth + 1)
                }
            }
            out.append(UInt8(ascii: "\n"))
            JSON.pad(indent, depth, into: &out)
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty { return JSON.ascii("{}", into: &out) }
            out.append(UInt8(ascii: "{"))
            o.withUnsafeBufferPointer { members in
                for i in members.indices {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(UInt8(ascii: "\n"))
                    JSON.pad(indent, depth + 1, into: &out)
                    JSON.quote(members[i].0, into: &out)
                    out.append(UInt8(ascii: ":"))
                    out.append(UInt8(ascii: " "))
                    members[i].1.write(into: &out, indent: indent, depth: depth + 1)
                }
            }
            out.append(UInt8(ascii: "\n"))
            JSON.pad(indent, depth, into: &out)
            out.append(UInt8(ascii: "}"))
        default: writeScalar(into: &out)
        }
    }

    private func writeCompact(into out: inout [UInt8]) {
        switch self {
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.writeCompact(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.quote(k, into: &out)
                out.append(UInt8(ascii: ":"))
                v.writeCompact(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        default: writeScalar(into: &out)
        }
    }

    private func writeScalar(into out: inout [UInt8]) {
        switch self {
        case .null: JSON.ascii("null", into: &out)
        case .bool(let b): JSON.ascii(b ? "true" : "false", into: &out)
        case .int(let i):
            if i < 0 { out.append(UInt8(ascii: "-")) }
            JSON.decimal(i.magnitude, into: &out)
        case .uint(let u): JSON.decimal(u, into: &out)
        case .string(let s): JSON.quote(s, into: &out)
        case .array, .object: break  // written by `write` and `writeCompact`
        }
    }

    private static func ascii(_ s: StaticString, into out: inout [UInt8]) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    private static let spaces = [UInt8](repeating: UInt8(ascii: " "), count: 64)

    private static func pad(_ indent: [UInt8], _ depth: Int, into out: inout [UInt8]) {
        if !indent.isEmpty { out.append(contentsOf: indent) }
        var n = 2 * depth
        while n > 0 {
            let k = min(n, spaces.count)
            spaces.withUnsafeBufferPointer { out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<k])) }
            n -= k
        }
    }

    /// The digits of `v`, as `String(v)` writes them.
    private static func decimal(_ v: UInt64, into out: inout [UInt8]) {
        if v < 10 { return out.append(UInt8(ascii: "0") + UInt8(v)) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64.max has 20 digits
        var n = v
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 {
                count += 1
                d[24 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[(24 - count)...]))
        }
    }

    /// `s` quoted: `"` and `\` escaped, newline, tab and carriage return as `\n`, `\t`, `\r`,
    /// other control characters as `\u00XX`; everything else (UTF-8 included) as it is.
    private static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if s.utf8.withContiguousStorageIfAvailable({ escape($0, into: &out) }) == nil {
            let bytes = Array(s.utf8)  // a string without contiguous UTF-8 (bridged)
            bytes.withUnsafeBufferPointer { escape($0, into: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func escape(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var plain = 0  // start of the bytes not yet copied
        for i in 0..<bytes.count {
            let b = bytes[i]
            guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plain..<i]))
            plain = i + 1
            out.append(UInt8(ascii: "\\"))
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
            default:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plain...]))
    }
}
