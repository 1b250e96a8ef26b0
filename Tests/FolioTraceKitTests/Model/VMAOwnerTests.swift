import Testing

@testable import FolioTraceKit

/// Where foreign-reference-rescue places the owner of a VMA whose young bit memcg reclaim
/// checked: the memcg as a probe names it (id, name, or a pointer another probe paired with an
/// id), against the reclaim's target (from try_to_free_mem_cgroup_pages, or the reclaiming
/// task's memcg and its ancestors). Each case is one way a capture can name them; the
/// 5.10.223 positive (DetectorTests.foreignReferenceRescues) is the same logic on a real trace.
@Suite struct VMAOwnerTests {
    /// /A (14) and /B (40) as the rescue capture makes them, /A/x (15) and /A/y (16) under A.
    let paths: [UInt64: String] = [1: "/", 14: "/A", 15: "/A/x", 16: "/A/y", 40: "/B"]
    let pointerA: UInt64 = 0xffff_8880_0400_0000
    let pointerB: UInt64 = 0xffff_8880_0400_8000

    func place(
        id: UInt64? = nil,
        pointer: UInt64? = nil,
        target: ReclaimTarget? = nil,
        reclaimer: UInt64? = nil,
        memcgIDs: [UInt64: UInt64] = [:]
    ) -> (target: UInt64?, owner: VMAOwner) {
        LifecycleEngine.placeVMAOwner(
            id: id,
            pointer: pointer,
            target: target,
            reclaimer: reclaimer,
            paths: paths,
            memcgIDs: memcgIDs
        )
    }

    @Test func namedTargetAndOwner() {
        let a = ReclaimTarget(id: 14, pointer: pointerA)
        #expect(place(id: 40, target: a) == (14, .foreign(40)))
        #expect(place(id: 14, target: a) == (14, .inTarget))
        #expect(place(id: 16, target: a) == (14, .inTarget), "a child of the target is its own")
        // A target at the root reclaims every memcg's folios: nothing is foreign to it.
        #expect(place(id: 40, target: ReclaimTarget(id: 1, pointer: nil)) == (1, .inTarget))
        // The paths decide: an id the trace never named a path for decides nothing.
        #expect(place(id: 99, target: a) == (14, .notJudged(LifecycleEngine.unnamedPaths)))
    }

    @Test func pointersArePairedWithIdsByOtherProbes() {
        let a = ReclaimTarget(id: 14, pointer: pointerA)
        // The same pointer as the target is its own VMA, with or without an id.
        #expect(place(pointer: pointerA, target: ReclaimTarget(id: nil, pointer: pointerA)).owner == .inTarget)
        #expect(place(pointer: pointerB, target: a, memcgIDs: [pointerB: 40]) == (14, .foreign(40)))
        // A pointer no probe paired with an id is not placed, never guessed.
        #expect(place(pointer: pointerB, target: a) == (14, .notJudged(LifecycleEngine.unnamedOwner)))
        // A target named by pointer only, paired elsewhere.
        #expect(
            place(id: 40, target: ReclaimTarget(id: nil, pointer: pointerA), memcgIDs: [pointerA: 14])
                == (14, .foreign(40))
        )
    }

    /// Without a target probe the reclaiming task's memcg stands for the target only as far
    /// as it and all its ancestors below the root agree.
    @Test func reclaimingTaskStandsInForTheTarget() {
        #expect(place(id: 40, reclaimer: 14) == (14, .foreign(40)))
        #expect(place(id: 40, reclaimer: 15) == (15, .foreign(40)), "B shares no ancestor with /A/x")
        // /A/y under /A/x's parent: the target may be /A, which holds both.
        #expect(place(id: 16, reclaimer: 15) == (nil, .notJudged(LifecycleEngine.ancestorTarget)))
        #expect(place(id: 15, reclaimer: 14) == (14, .inTarget))
        #expect(place(id: 40) == (nil, .notJudged(LifecycleEngine.unnamedTarget)))
        #expect(place(id: 40, reclaimer: 1) == (nil, .notJudged(LifecycleEngine.unnamedTarget)))
    }
}
