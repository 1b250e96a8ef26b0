import Testing

@testable import FolioTraceKit

/// A CPU's `stats` file as the kernel prints it (6.18's lines), read for the losses and for
/// the unread bytes tail's readers poll.
@Suite struct CPUStatsTests {
    static let stats = """
        entries: 1710
        overrun: 120
        commit overrun: 0
        bytes: 69052
        oldest event ts: 21559.212354
        now ts: 44384.299331
        dropped events: 3
        read events: 48211

        """

    static func unread(_ text: String) -> Int {
        var text = text
        return text.withUTF8 { CPUStats.unreadBytes(UnsafeRawBufferPointer($0)) }
    }

    @Test func readsTheKernelsCounts() {
        #expect(CPUStats.lost(Self.stats) == 123)
        #expect(Self.unread(Self.stats) == 69052)
        #expect(Self.unread("bytes: 0\n") == 0)
        // Not the line's start ("bytes" inside another line), or no number: not an answer.
        #expect(Self.unread("entries: 1\nread bytes: 5\n") == Int.max)
        #expect(Self.unread("bytes:\n") == Int.max)
        #expect(Self.unread("") == Int.max)
    }

    static func now(_ text: String) -> UInt64? {
        var text = text
        return text.withUTF8 { CPUStats.now(UnsafeRawBufferPointer($0)) }
    }

    @Test func readsTheTraceClock() throws {
        #expect(Self.now(Self.stats) == 44_384_299_331_000)
        // Not "oldest event ts", which comes first; a clock without nanoseconds has no line.
        #expect(Self.now("oldest event ts: 5.000001\n") == nil)
        #expect(Self.now("now ts: 7\n") == 7_000_000_000)
        #expect(Self.now("now ts: 1.5\n") == 1_500_000_000)
        #expect(Self.now("now ts:\n") == nil)
        // This kernel's own file, read twice: its clock is there and does not go back.
        let path = "/sys/kernel/tracing/per_cpu/cpu0/stats"
        guard let first = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let a = try #require(Self.now(first), "\(first)")
        let second = try String(contentsOfFile: path, encoding: .utf8)
        let b = try #require(Self.now(second), "\(second)")
        #expect(a > 0 && b >= a)
    }
}
