#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Formats numbers as C's `printf` does (`"%.3g"`, `"%-20llu"`): the subset of Foundation's
/// `String(format:)` the reports use, without Foundation (it is not in FoundationEssentials).
/// - Parameters:
///   - format: a `printf` format; each conversion must match its argument's C type.
///   - arguments: the values, as `CVarArg`.
/// - Returns: the formatted text. The corresponding C function is `vsnprintf`.
public func cFormat(_ format: String, _ arguments: any CVarArg...) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    while true {
        let size = buffer.count
        let n = buffer.withUnsafeMutableBufferPointer { b in
            withVaList(arguments) { vsnprintf(b.baseAddress, size, format, $0) }
        }
        guard n >= 0 else { return "" }
        if Int(n) < size {
            return String(decoding: buffer[..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        buffer = [CChar](repeating: 0, count: Int(n) + 1)
    }
}
