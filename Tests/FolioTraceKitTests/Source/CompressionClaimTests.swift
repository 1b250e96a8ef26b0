import Foundation
import Testing

@testable import FolioTraceKit

/// A size field claims more than a compressed block holds: above `Compression.largeClaim` the
/// claim is checked by decompressing before anything that large is allocated (a fuzzed trace.dat
/// asked for 4.2 GiB from a zstd frame of half a MiB, within zstd's 8192:1 allowance).
@Suite struct CompressionClaimTests {
    /// Zeros and a counter, so that zstd has both runs and literals to code.
    static let original: Data = {
        var d = Data(count: Compression.largeClaim + 4096 + 17)
        d.withUnsafeMutableBytes { b in
            for i in stride(from: 0, to: b.count, by: 4096) { b[i] = UInt8(truncatingIfNeeded: i >> 12) }
        }
        return d
    }()

    static let frame = ZstdCompressor.compress(original)

    private func check(_ frame: Data, size: Int) throws {
        let bytes = [UInt8](frame)
        try bytes.withUnsafeBytes { b in try Compression.zstd.checkClaim(b, size: size, what: "block") }
    }

    @Test func trueClaimPasses() throws {
        #expect(Self.frame.count < Self.original.count / 100)
        try check(Self.frame, size: Self.original.count)
    }

    @Test(arguments: [1, -1, 3 << 30])
    func falseClaimFails(_ delta: Int) {
        let size = delta == 3 << 30 ? delta : Self.original.count + delta
        #expect(throws: TraceProblem.self) { try check(Self.frame, size: size) }
    }

    @Test func cutFrameFails() {
        #expect(throws: TraceProblem.self) {
            try check(Self.frame.prefix(Self.frame.count / 2), size: Self.original.count)
        }
    }

    /// Below the threshold the claim is left to the decompression itself, which checks it exactly.
    @Test func smallClaimsAreNotStreamed() throws {
        try check(Data([1, 2, 3]), size: Compression.largeClaim)
    }
}
