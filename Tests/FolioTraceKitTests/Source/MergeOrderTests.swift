import Testing

@testable import FolioTraceKit

/// The merge's scan for the first and the runner-up head (`MergedStream.earliestTwo`), which
/// lets a CPU's run of records skip the scan: the first is `earliest`'s choice, and the
/// runner-up is `earliest`'s choice with the first gone, ties to the lower CPU in both.
@Suite struct MergeOrderTests {
    func heads(_ stamps: [UInt64?]) -> [RawRecord?] {
        stamps.enumerated().map { cpu, ts in
            ts.map {
                RawRecord(
                    timestamp: $0,
                    cpu: Int32(cpu),
                    missedEvents: 0,
                    payload: UnsafeRawBufferPointer(start: nil, count: 0)
                )
            }
        }
    }

    @Test(
        arguments: [
            [nil, nil], [5], [5, 5], [7, 5, 5], [5, 7, 5], [nil, 3, nil, 3], [9, 8, 7, 6], [6, 7, 8, 9],
            [UInt64.max, UInt64.max], [4, nil, 2, 2, 4],
        ] as [[UInt64?]]
    )
    func runnerUpIsTheFirstWithoutTheFirst(_ stamps: [UInt64?]) {
        let h = heads(stamps)
        let two = MergedStream.earliestTwo(h)
        #expect(two?.best == MergedStream.earliest(h))
        guard let best = two?.best else { return }
        var without = h
        without[best] = nil
        #expect(two?.second == MergedStream.earliest(without) ?? Int.max)
    }
}
