import FolioTraceKit
import Foundation
import Testing

/// Real fixtures with bytes flipped at random places (seeded, so every run is the same):
/// reading them whole through `analyze`'s path ends in a result or a `TraceFileError`, never a
/// crash or a hang. `FOLIOTRACE_FLIP_ROUNDS=N` runs more rounds (CI runs 40).
@Suite struct CorruptionTests {
    /// A small deterministic generator (SplitMix64), so failures reproduce.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(
        arguments: ProcessInfo.processInfo.environment["FOLIOTRACE_FLIP_ALL"] == nil
            ? ["linux-6.18/memcg-reclaim-foreign-v6.dat", "linux-6.1/charge-move.dat"] : Fixtures.traces
    )
    func flippedBytesNeverCrash(_ fixture: String) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        let dir = try Fixtures.scratch("flip")
        var rng = SplitMix(state: 0x5EED)
        var errors = 0
        let rounds = ProcessInfo.processInfo.environment["FOLIOTRACE_FLIP_ROUNDS"].flatMap(Int.init) ?? 40
        for round in 0..<rounds {
            var data = original
            for _ in 0..<8 {
                let offset = Int(rng.next() % UInt64(data.count))
                data[offset] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
            let path = dir.appendingPathComponent("flip-\(round).dat").path
            try data.write(to: URL(fileURLWithPath: path))
            do {
                _ = try TraceAnalysis(path: path)
            } catch {
                #expect(error.path == path)
                errors += 1
            }
        }
        // Uncompressed: flips in metadata give errors, flips in event payloads decode as other
        // values. Compressed (v7 zstd): any flip in a frame fails its decompression.
        if fixture.contains("v6") { #expect(errors < rounds) } else { #expect(errors > 0) }
    }
}
