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
}
