import CZlib
import CZstd
import Testing

@testable import FolioTraceKit

/// The codecs behind v7 sections and CPU chunks. The container format (block and chunk
/// headers) is exercised by the zstd fixtures; trace-cmd 3.1.6 on Debian writes no zlib
/// files, so the zlib codec is checked here on real bytes: a fixture's event formats,
/// compressed as trace-cmd's zlib plugin does (`compress2`), come back unchanged.
@Suite struct CompressionTests {
    private func realBytes() throws -> [UInt8] {
        let file = try TraceFile(path: Fixtures.path("linux-6.18/memcg-reclaim-foreign-v6.dat"))
        return file.eventFormats.prefix(40).flatMap { Array($0.format) }
    }

    @Test func zlibRoundTrip() throws {
        let original = try realBytes()
        #expect(original.count > 10_000)
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(uLong(original.count))))
        var length = uLongf(compressed.count)
        let rc = compressed.withUnsafeMutableBytes { dst in
            original.withUnsafeBytes { src in
                compress2(
                    dst.baseAddress!.assumingMemoryBound(to: Bytef.self),
                    &length,
                    src.baseAddress!.assumingMemoryBound(to: Bytef.self),
                    uLong(original.count),
                    Z_BEST_COMPRESSION
                )
            }
        }
        #expect(rc == Z_OK)
        let out = OwnedBytes(count: original.count)
        try compressed.prefix(Int(length)).withUnsafeBytes { src in
            try Compression.zlib.uncompress(src, into: out.bytes, what: "test block")
        }
        #expect(Array(out.bytes) == original)
    }

    @Test func zlibRejectsDamage() throws {
        let original = try realBytes()
        let out = OwnedBytes(count: original.count)
        // Plain text is not a zlib stream: a clear error, not a crash.
        #expect(throws: TraceProblem.self) {
            try original.withUnsafeBytes { try Compression.zlib.uncompress($0, into: out.bytes, what: "damaged") }
        }
        #expect(throws: TraceProblem.self) {
            try original.withUnsafeBytes { try Compression.zstd.uncompress($0, into: out.bytes, what: "damaged") }
        }
    }
}
