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
        var out = JSONBytes(capacity: 1 << 12)
        let prefix = Array(indent.utf8)
        prefix.withUnsafeBufferPointer { write(into: &out, indent: $0, depth: 0) }
        return out.string()
    }

    /// On one line, for JSON-lines output.
    public var compact: String {
        var out = JSONBytes(capacity: 256)
        writeCompact(into: &out)
        return out.string()
    }

    public static func quote(_ s: String) -> String {
        var out = JSONBytes(capacity: s.utf8.count + 2)
        JSON.quote(s, into: &out)
        return out.string()
    }

    /// `rendered`'s writer: the value at `depth` levels below `indent`. Elements are read in
    /// place through the arrays' buffers: iterating the arrays copied each element out and
    /// back (a retain and a release of each string and nested array).
    private func write(into out: inout JSONBytes, indent: UnsafeBufferPointer<UInt8>, depth: Int) {
        switch self {
        case .array(let a):
            if a.isEmpty { return out.append("[]") }
            out.append(UInt8(ascii: "["))
            a.withUnsafeBufferPointer { elements in
                for i in elements.indices {
                    out.newline(comma: i > 0, indent: indent, spaces: 2 * (depth + 1))
                    elements[i].write(into: &out, indent: indent, depth: depth + 1)
                }
            }
            out.newline(comma: false, indent: indent, spaces: 2 * depth)
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty { return out.append("{}") }
            out.append(UInt8(ascii: "{"))
            o.withUnsafeBufferPointer { members in
                for i in members.indices {
                    out.newline(comma: i > 0, indent: indent, spaces: 2 * (depth + 1))
                    JSON.quote(members[i].0, into: &out)
                    out.append(": ")
                    members[i].1.write(into: &out, indent: indent, depth: depth + 1)
                }
            }
            out.newline(comma: false, indent: indent, spaces: 2 * depth)
            out.append(UInt8(ascii: "}"))
        default: writeScalar(into: &out)
        }
    }

    private func writeCompact(into out: inout JSONBytes) {
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

    private func writeScalar(into out: inout JSONBytes) {
        switch self {
        case .null: out.append("null")
        case .bool(let b): out.append(b ? "true" : "false")
        case .int(let i):
            if i < 0 { out.append(UInt8(ascii: "-")) }
            out.decimal(i.magnitude)
        case .uint(let u): out.decimal(u)
        case .string(let s): JSON.quote(s, into: &out)
        case .array, .object: break  // written by `write` and `writeCompact`
        }
    }

    /// `s` quoted: `"` and `\` escaped, newline, tab and carriage return as `\n`, `\t`, `\r`,
    /// other control characters as `\u00XX`; everything else (UTF-8 included) as it is.
    private static func quote(_ s: String, into out: inout JSONBytes) {
        out.append(UInt8(ascii: "\""))
        if s.utf8.withContiguousStorageIfAvailable({ out.appendEscaped($0) }) == nil {
            let bytes = Array(s.utf8)  // a string without contiguous UTF-8 (bridged)
            bytes.withUnsafeBufferPointer { out.appendEscaped($0) }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// The bytes of a JSON text as it is written: an append is a capacity check and a copy. (An
/// `[UInt8]` checked its buffer's uniqueness and took its growth path on every append: a fifth
/// of the writer's instructions on a 7.5 MB report.)
struct JSONBytes: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Room for `n` more bytes.
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        var grown = capacity * 2
        while grown < count + n { grown *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }

    @inline(__always)
    mutating func append(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let from = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (base + count).update(from: from, count: bytes.count)
        count += bytes.count
    }

    mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { append($0) }
    }

    /// `,` if `comma`, a newline, `indent` and `spaces` spaces: what precedes each element of
    /// an indented array or object, and its closing bracket.
    mutating func newline(comma: Bool, indent: UnsafeBufferPointer<UInt8>, spaces: Int) {
        reserve(2 + indent.count + spaces)
        if comma {
            base[count] = UInt8(ascii: ",")
            count += 1
        }
        base[count] = UInt8(ascii: "\n")
        count += 1
        if let from = indent.baseAddress, !indent.isEmpty {
            (base + count).update(from: from, count: indent.count)
            count += indent.count
        }
        (base + count).update(repeating: UInt8(ascii: " "), count: spaces)
        count += spaces
    }

    /// `bytes`, escaped as JSON requires, copied as they are scanned: eight bytes at a time
    /// while a word holds nothing to escape (most strings: event names, keys, messages), one
    /// by one in a word that does and after the last whole word.
    mutating func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let from = bytes.baseAddress else { return }
        let n = bytes.count
        reserve(n)  // room for every byte as it is; an escape makes room for the rest again
        var i = 0
        while i < n {
            if i + 8 <= n {
                let w = UnsafeRawPointer(from + i).loadUnaligned(as: UInt64.self)
                if !Self.mayNeedEscape(w) {
                    UnsafeMutableRawPointer(base + count).storeBytes(of: w, as: UInt64.self)
                    count += 8
                    i += 8
                    continue
                }
            }
            let b = from[i]
            if b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                appendEscape(of: b)
                reserve(n - i - 1)
            } else {
                base[count] = b
                count += 1
            }
            i += 1
        }
    }

    /// Whether any byte of `w` is below 0x20, `"` or `\` (the classic zero-byte tests: a byte
    /// below n sets its high bit in `(w - n*0x01..) & ~w`; bytes of 0x80 and above, UTF-8's,
    /// never do; a borrow only ever follows a byte that matched).
    @inline(__always)
    private static func mayNeedEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func zeroByte(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let control = (w &- ones &* 0x20) & ~w & highs
        return control | zeroByte(w ^ (ones &* 0x22)) | zeroByte(w ^ (ones &* 0x5C)) != 0
    }

    /// The escape of one byte that needs one: `\"`, `\\`, `\n`, `\t`, `\r` or `\u00XX`.
    private mutating func appendEscape(of b: UInt8) {
        append(UInt8(ascii: "\\"))
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): append(b)
        case UInt8(ascii: "\n"): append(UInt8(ascii: "n"))
        case UInt8(ascii: "\t"): append(UInt8(ascii: "t"))
        case UInt8(ascii: "\r"): append(UInt8(ascii: "r"))
        default:
            let hex: StaticString = "0123456789abcdef"
            append("u00")
            hex.withUTF8Buffer { h in
                append(h[Int(b >> 4)])
                append(h[Int(b & 0xF)])
            }
        }
    }

    /// The digits of `v`, as `String(v)` writes them.
    mutating func decimal(_ v: UInt64) {
        if v < 10 { return append(UInt8(ascii: "0") + UInt8(v)) }
        var digits = 0
        var n = v
        while n > 0 {
            digits += 1
            n /= 10
        }
        reserve(digits)
        n = v
        for i in stride(from: count + digits - 1, through: count, by: -1) {
            base[i] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
        }
        count += digits
    }

    /// The text, validated as UTF-8 (every string written came from a Swift `String`).
    consuming func string() -> String {
        String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
    }
}
