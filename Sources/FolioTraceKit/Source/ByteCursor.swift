/// Reads numbers and strings from trace-file bytes in the file's byte order.
///
/// Every read is bounds-checked and throws `.truncated` naming what was being read, so a cut
/// or corrupt file gives a clear error rather than a crash.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let bigEndian: Bool
    var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, bigEndian: Bool = false, offset: Int = 0) {
        self.bytes = bytes
        self.bigEndian = bigEndian
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(TraceProblem) {
        guard n >= 0, offset >= 0, n <= bytes.count - offset else {
            throw TraceProblem(
                .truncated("\(what()) at offset \(offset) needs \(n) bytes, file has \(max(0, bytes.count - offset))")
            )
        }
    }

    mutating func u16(_ what: @autoclosure () -> String) throws(TraceProblem) -> UInt16 {
        try need(2, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        offset += 2
        return bigEndian ? v.byteSwapped : v
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(TraceProblem) -> UInt32 {
        try need(4, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return bigEndian ? v.byteSwapped : v
    }

    mutating func u64(_ what: @autoclosure () -> String) throws(TraceProblem) -> UInt64 {
        try need(8, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset += 8
        return bigEndian ? v.byteSwapped : v
    }

    /// Reads `n` bytes and returns them without copying.
    mutating func slice(_ n: Int, _ what: @autoclosure () -> String) throws(TraceProblem) -> UnsafeRawBufferPointer {
        try need(n, what())
        let s = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return s
    }

    /// Reads a NUL-terminated string and moves past the NUL.
    mutating func cString(_ what: @autoclosure () -> String) throws(TraceProblem) -> String {
        var end = offset
        while end < bytes.count, bytes[end] != 0 { end += 1 }
        guard end < bytes.count else {
            throw TraceProblem(.truncated("\(what()) at offset \(offset) has no terminating NUL"))
        }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), as: UTF8.self)
        offset = end + 1
        return s
    }

    /// Reads the rest of an option's bytes as text, up to a NUL if there is one: trace-cmd 2.9
    /// and older write some options (TRACECLOCK) empty, without even the NUL, and its reader
    /// takes them as they are.
    mutating func optionText() -> String {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        offset = bytes.count
        return String(decoding: rest.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Checks that the next bytes are exactly `literal` (which may contain NULs) and skips them.
    mutating func expect(_ literal: [UInt8], _ what: @autoclosure () -> String) throws(TraceProblem) {
        let s = try slice(literal.count, what())
        guard s.elementsEqual(literal) else {
            throw TraceProblem(.corrupt("expected \(what()) at offset \(offset - literal.count)"))
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as text, for format files, cmdlines and options (which are ASCII).
    var text: String { String(decoding: self, as: UTF8.self) }
}
