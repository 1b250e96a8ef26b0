import Foundation
import Testing

@testable import FolioTraceKit

/// `PageSpool`, tail's bounded spool: pages come out as they went in, whole and in order,
/// across the boundary between its memory part and its file, from one thread or two.
@Suite struct PageSpoolTests {
    static let pageSize = 64

    /// A page whose every byte says which page it is: its number in the first 8 bytes, then a
    /// pattern that differs from one page to the next.
    static func fill(_ page: UnsafeMutableRawPointer, _ n: Int) {
        page.storeBytes(of: UInt64(n), as: UInt64.self)
        for i in 8..<pageSize {
            page.storeBytes(of: UInt8(truncatingIfNeeded: n &* 31 &+ i), toByteOffset: i, as: UInt8.self)
        }
    }

    /// The number of a popped page, or nil when a byte is not what `fill` wrote.
    static func number(_ page: UnsafeRawBufferPointer) -> Int? {
        guard page.count == pageSize else { return nil }
        let n = Int(page.loadUnaligned(as: UInt64.self))
        for i in 8..<pageSize where page[i] != UInt8(truncatingIfNeeded: n &* 31 &+ i) { return nil }
        return n
    }

    /// Pushes and pops in an order that crosses the boundary every way: memory filling and
    /// spilling, pops from memory then the file, pushes that must go behind pages still in
    /// the file though memory has room again, a drained file, memory used again after it,
    /// and enough pages to need several reads of the file. Every page is checked when popped
    /// (it stays valid until the next pop), and the count of pages that went through the
    /// file is what the bound makes it.
    @Test(arguments: [0, 1, 3])
    func pagesComeOutInOrderAcrossTheBoundary(memoryPages: Int) throws {
        let dir = try Fixtures.scratch("spool")
        defer { try? FileManager.default.removeItem(at: dir) }
        let spool = try PageSpool(pageSize: Self.pageSize, memoryPages: memoryPages, directory: dir.path)
        // The file is unlinked at once: nothing is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let page = UnsafeMutableRawPointer.allocate(byteCount: Self.pageSize, alignment: 8)
        defer { page.deallocate() }
        var pushed = 0
        var popped = 0
        func push(_ k: Int) throws {
            for _ in 0..<k {
                Self.fill(page, pushed)
                try spool.push(page, bytes: Self.pageSize)
                pushed += 1
            }
        }
        func pop(_ k: Int) throws {
            for _ in 0..<k {
                let p = try #require(try spool.pop(), "page \(popped) missing")
                #expect(
                    Self.number(p) == popped,
                    "page \(popped) came out as \(Self.number(p).map(String.init) ?? "damaged")"
                )
                popped += 1
            }
        }

        let batch = PageSpool.readBatch
        try push(memoryPages + batch + 8)
        #expect(spool.count == memoryPages + batch + 8)
        #expect(spool.spilledPages == batch + 8)
        // Memory's pages, then the file's first read: 8 pages are still in the file.
        try pop(memoryPages + 1)
        // Memory has room again, but the file holds older pages: these go behind them.
        try push(5)
        #expect(spool.spilledPages == batch + 13)
        try pop(batch + 12)
        #expect(try spool.pop() == nil)
        #expect(spool.count == 0)
        // The file is drained: memory takes pages again, and only what it cannot hold spills.
        let spilled = spool.spilledPages
        try push(memoryPages + 2)
        #expect(spool.spilledPages == spilled + 2)
        try pop(memoryPages + 2)
        #expect(try spool.pop() == nil)
        // A popped page stays as it was until the next pop, however many pages come in: one
        // popped with pages behind it, and the only one (the spool empty but for it).
        for waiting in [memoryPages + 2, 1] {
            try push(waiting)
            let held = try #require(try spool.pop())
            #expect(Self.number(held) == popped)
            popped += 1
            try push(memoryPages + 3)
            #expect(Self.number(held) == popped - 1, "the page popped last changed before the next pop")
            try pop(waiting - 1 + memoryPages + 3)
            #expect(try spool.pop() == nil)
        }
        // The file's last pages are read (the file is drained) but not all popped when memory
        // takes new pages: those come after them.
        try push(memoryPages + 5)
        try pop(memoryPages + 1)
        try push(2)
        try pop(6)
        #expect(try spool.pop() == nil)
        // More than one read of the file's pages (`readBatch` a read), popped while pushed.
        for _ in 0..<10 {
            try push(3 * PageSpool.readBatch + 5)
            try pop(2 * PageSpool.readBatch + 1)
        }
        try pop(pushed - popped)
        #expect(try spool.pop() == nil)
        #expect(spool.count == 0)
        #expect(popped == pushed)

        // A page read short is zeros past what was read, as the kernel leaves it.
        memset(page, 0xAB, Self.pageSize)
        try spool.push(page, bytes: 10)
        let short = try #require(try spool.pop())
        #expect(short.prefix(10).allSatisfy { $0 == 0xAB } && short.dropFirst(10).allSatisfy { $0 == 0 })
    }

    /// A producer thread pushes while a consumer thread pops, as tail's reader and analysis
    /// do: every page comes out once, whole, in order. The producer pushes a burst before the
    /// consumer starts, more than the memory part holds, so the file is used whatever the
    /// threads' timing; after that the two interleave as the scheduler has it.
    @Test func twoThreadsKeepTheOrder() throws {
        let dir = try Fixtures.scratch("spool-threads")
        defer { try? FileManager.default.removeItem(at: dir) }
        let spool = try PageSpool(pageSize: Self.pageSize, memoryPages: 4, directory: dir.path)
        let total = 50_000
        let burst = 100
        let burstDone = DispatchSemaphore(value: 0)
        let producerDone = DispatchSemaphore(value: 0)
        final class Failure: @unchecked Sendable { var text: String? }
        let failure = Failure()
        Thread.detachNewThread {
            let page = UnsafeMutableRawPointer.allocate(byteCount: Self.pageSize, alignment: 8)
            defer { page.deallocate() }
            for n in 0..<total {
                Self.fill(page, n)
                do { try spool.push(page, bytes: Self.pageSize) } catch {
                    failure.text = "push \(n): \(error)"
                    break
                }
                if n == burst - 1 { burstDone.signal() }
            }
            producerDone.signal()
        }
        burstDone.wait()
        #expect(spool.spilledPages >= burst - 4, "the burst went past the memory part")
        var next = 0
        var wrong: [String] = []
        // Pops until the producer has ended and the spool is empty (no time limit: a page
        // lost or duplicated shows in the count, not as a wait).
        var finished = false
        while true {
            if let p = try spool.pop() {
                if Self.number(p) != next, wrong.count < 5 {
                    wrong.append("expected page \(next), got \(Self.number(p).map(String.init) ?? "a damaged page")")
                }
                next += 1
                continue
            }
            if finished { break }
            if producerDone.wait(timeout: .now()) == .success { finished = true } else { sched_yield() }
        }
        #expect(failure.text == nil, "\(failure.text ?? "")")
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(next == total, "pages popped: \(next) of \(total)")
        #expect(try spool.pop() == nil)
        #expect(spool.count == 0)
    }
}
