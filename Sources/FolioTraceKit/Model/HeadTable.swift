import Glibc

/// Every head pfn the trace has seen: how many generations it has had, and the slot of its live
/// one in `FolioSlots` if it has one.
///
/// One table, not two, because the engine asks two questions of every new generation: "is a
/// folio live here" and "which generation comes next". An ended generation's entry stays,
/// because its pfn's next generation numbers from it, and reports name folios by (pfn,
/// generation).
///
/// Indexed by the pfn itself, in blocks of 512 pfns (an 8-byte entry each: a block is one 4 KiB
/// page), found through a directory with one pointer per block. Real memory is dense where a
/// trace touches it: the page allocator hands out runs of neighbouring pfns (a 20-million-event
/// page-cache capture saw 394 thousand distinct pfns in 2 472 blocks, and had met 2 470 of those
/// blocks by its first quarter), so
/// - a lookup is two dependent loads and no hash, and the next pfn of a run is in the same
///   cache line: the hash table this replaces put every pfn in a random bucket, and its first
///   load missed the cache on most allocations (59% of `begin` in a profile of that capture);
/// - memory follows the blocks the trace touches, 4 KiB at a time: the hash table doubled at
///   fixed loads (8 MiB to 16 MiB, with both alive while it copied) when that capture's
///   distinct pfns passed 367 thousand, after its first quarter: most of its peak resident set's
///   growth from a quarter to all (docs/performance.md).
///
/// The directory covers pfns below 2^30 (4 TiB of 4 KiB pages; 16 MiB of address space) and is
/// mapped zeroed (anonymous memory reserved without being committed, outside malloc's heap), so
/// the kernel gives it memory only where a block pointer is written (8 bytes a block: 48 KiB for
/// a machine with 24 GiB). pfns above that, and pfns of a trace so scattered that blocks would
/// cost more than 64 bytes for each distinct pfn (a damaged or fabricated file), are kept in a
/// hash table (`PfnTable`) instead, so memory stays within a small factor of the pfns seen
/// whatever a file holds.
struct HeadTable {
    /// A slot value that says "no live generation here".
    static let notLive: Int32 = -1

    /// log2 of the pfns in a block: 512 entries of 8 bytes, one page.
    static let blockShift = 9
    static let blockSize = 1 << blockShift
    /// pfns from here up are kept in `scattered`.
    static let directLimit: UInt64 = 1 << 30
    /// Blocks allowed before the density check: 4 MiB, whatever the trace.
    static let freeBlocks = 1024
    /// Past `freeBlocks`, a new block is made only while blocks cost at most this many bytes
    /// per distinct pfn (64 distinct pfns a block, on average); otherwise its pfns go to the
    /// hash table.
    static let blockBytesPerPfn = 64

    /// One pfn: 0 in both fields is "never seen", so blocks start zeroed.
    struct Entry {
        /// The live generation's slot + 1 (below 2^31: slots are `Int32`), 0 when none is
        /// live; bit 31 (`large`) set when that generation is a folio of order > 0.
        var slotPlusOne: UInt32
        /// Generations this pfn has had; the live one, if any, is the last (`generations - 1`).
        var generations: UInt32
    }

    /// The blocks and the directory, shared by copies of the table until one of them changes
    /// (`mutating` methods copy it first when it is not uniquely referenced, as `Array` does).
    final class Storage {
        typealias Block = UnsafeMutablePointer<Entry>
        /// One pointer per block below `limit`: nil for a block never touched,
        /// `Storage.elsewhere` for a block whose pfns live in `HeadTable.scattered`.
        let directory: UnsafeMutablePointer<Block?>
        /// The pfns the directory covers: `HeadTable.directLimit`, or 0 when the address space
        /// for it could not be had (a `ulimit -v`): every pfn is then in `scattered`.
        let limit: UInt64
        private let mapped: Bool
        /// Every block made, by block number: for iteration, copies and freeing.
        var blocks: [(number: UInt64, entries: Block)] = []
        /// The block numbers whose pfns live in `HeadTable.scattered` (`elsewhere` in the directory), and
        /// some made since (their directory entry says which).
        var blocksElsewhere: [UInt64] = []

        /// The directory's sentinel for a block kept in `scattered` (never dereferenced).
        static var elsewhere: Block { Block(bitPattern: 8)! }
        static let directoryCount = Int(HeadTable.directLimit >> UInt64(HeadTable.blockShift))

        static let directoryBytes = directoryCount * MemoryLayout<Block?>.stride

        init() {
            let raw = mmap(
                nil,
                Self.directoryBytes,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1,
                0
            )
            if let raw, raw != MAP_FAILED {
                directory = raw.bindMemory(to: Block?.self, capacity: Self.directoryCount)
                limit = HeadTable.directLimit
                mapped = true
            } else {
                directory = .allocate(capacity: 1)
                directory.initialize(to: nil)
                limit = 0
                mapped = false
            }
        }

        deinit {
            for b in blocks { free(b.entries) }
            if mapped { munmap(directory, Self.directoryBytes) } else { directory.deallocate() }
        }

        /// A new block of zeroed entries, recorded in the directory.
        func makeBlock(_ number: UInt64) -> Block {
            let raw = calloc(HeadTable.blockSize, MemoryLayout<Entry>.stride)!
            let block = raw.bindMemory(to: Entry.self, capacity: HeadTable.blockSize)
            directory[Int(number)] = block
            blocks.append((number, block))
            return block
        }

        func copy() -> Storage {
            let c = Storage()
            c.blocks.reserveCapacity(blocks.count)
            for b in blocks {
                c.makeBlock(b.number).update(from: b.entries, count: HeadTable.blockSize)
            }
            for number in blocksElsewhere where directory[Int(number)] == Self.elsewhere {
                c.directory[Int(number)] = Self.elsewhere
                c.blocksElsewhere.append(number)
            }
            return c
        }
    }

    private var storage = Storage()
    /// pfns outside the blocks, their entries packed in 64 bits (`pack`). Here and not in
    /// `Storage`: a class's stored `var` is checked for exclusive access at run time, on every
    /// lookup (`swift_beginAccess`).
    private var scattered = PfnTable<UInt64>()
    /// Distinct head pfns seen.
    private(set) var pfns = 0
    /// Head pfns with a live generation.
    private(set) var count = 0

    /// Blocks made, and pfns kept in the hash table instead (for the memory tests).
    var blockCount: Int { storage.blocks.count }
    var scatteredCount: Int { scattered.count }

    @inline(__always)
    private static func pack(_ e: Entry) -> UInt64 { UInt64(e.generations) << 32 | UInt64(e.slotPlusOne) }
    @inline(__always)
    private static func unpack(_ v: UInt64) -> Entry {
        Entry(slotPlusOne: UInt32(truncatingIfNeeded: v), generations: UInt32(truncatingIfNeeded: v >> 32))
    }

    /// The entry of `pfn` where it lives in a block, nil when it is in no block.
    @inline(__always)
    private func blockEntry(_ pfn: UInt64) -> UnsafeMutablePointer<Entry>? {
        guard pfn < storage.limit, let block = storage.directory[Int(pfn >> UInt64(Self.blockShift))],
            block != Storage.elsewhere
        else { return nil }
        return block + Int(pfn & UInt64(Self.blockSize - 1))
    }

    @inline(__always)
    private func entry(_ pfn: UInt64) -> Entry {
        if let e = blockEntry(pfn) { return e.pointee }
        if scattered.count == 0 { return Entry(slotPlusOne: 0, generations: 0) }
        return Self.unpack(scattered[pfn] ?? 0)
    }

    /// Bit 31 of `Entry.slotPlusOne`: the live generation is a folio of order > 0. Only such
    /// a folio can have tail pfns, so `LifecycleEngine.head(of:)` looks for heads among
    /// large ones without reading the state of every order-0 folio near the pfn (those reads
    /// missed the cache: a fifth of `begin` on the scale capture).
    static let large: UInt32 = 1 << 31

    @inline(__always)
    fileprivate static func slot(_ slotPlusOne: UInt32) -> Int32 {
        Int32(bitPattern: (slotPlusOne & ~large) &- 1)
    }

    /// The slot of the live generation at head `pfn`, nil when none is live there.
    @inline(__always)
    subscript(pfn: UInt64) -> Int32? {
        let e = entry(pfn)
        return e.slotPlusOne == 0 ? nil : Self.slot(e.slotPlusOne)
    }

    /// The slot of the live generation at head `pfn` when it is a folio of order > 0.
    @inline(__always)
    func largeSlot(_ pfn: UInt64) -> Int32? {
        let e = entry(pfn)
        return e.slotPlusOne & Self.large == 0 ? nil : Self.slot(e.slotPlusOne)
    }

    /// Changes the entry of `pfn`, making its block (or scattered entry) first if it has none.
    @inline(__always)
    private mutating func change<R>(_ pfn: UInt64, _ body: (inout Entry) -> R) -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        if let e = blockEntry(pfn) { return body(&e.pointee) }
        if pfn < storage.limit, let block = makeBlock(pfn >> UInt64(Self.blockShift)) {
            return body(&block[Int(pfn & UInt64(Self.blockSize - 1))])
        }
        var e = Self.unpack(scattered[pfn] ?? 0)
        let result = body(&e)
        scattered[pfn] = e.generations == 0 ? nil : Self.pack(e)
        return result
    }

    /// Makes block `number` (which has none) if the blocks stay within their budget, moving
    /// in the entries its pfns had in the hash table; otherwise marks it as kept there. A
    /// block refused early (a trace that touched many blocks before it had met many pfns) is
    /// made when a pfn of it changes once the budget allows: a real trace ends with its pfns in
    /// blocks however it began.
    private mutating func makeBlock(_ number: UInt64) -> Storage.Block? {
        let blocks = storage.blocks.count
        let bytes = (blocks + 1) * Self.blockSize * MemoryLayout<Entry>.stride
        guard blocks < Self.freeBlocks || bytes <= Self.blockBytesPerPfn * (pfns + 1) else {
            if storage.directory[Int(number)] == nil {
                storage.directory[Int(number)] = Storage.elsewhere
                storage.blocksElsewhere.append(number)
            }
            return nil
        }
        let wasElsewhere = storage.directory[Int(number)] == Storage.elsewhere
        let block = storage.makeBlock(number)
        if wasElsewhere, scattered.count > 0 {
            let base = number << UInt64(Self.blockShift)
            for i in 0..<Self.blockSize {
                if let packed = scattered.removeValue(forKey: base | UInt64(i)) {
                    block[i] = Self.unpack(packed)
                }
            }
        }
        return block
    }

    /// Makes `slot` the live generation at `pfn` (which has none), a folio of order > 0 when
    /// `large`, and returns its generation number: how many generations the pfn had before.
    @discardableResult
    mutating func begin(_ pfn: UInt64, slot: Int32, large: Bool = false) -> UInt32 {
        let (generation, wasLive) = change(pfn) { e in
            let before = (e.generations, e.slotPlusOne != 0)
            e.slotPlusOne = (UInt32(bitPattern: slot) &+ 1) | (large ? Self.large : 0)
            e.generations = e.generations &+ 1
            return before
        }
        if generation == 0 { pfns += 1 }
        if !wasLive { count += 1 }
        return generation
    }

    /// Ends the live generation at `pfn` and returns its slot, nil when none was live there.
    mutating func end(_ pfn: UInt64) -> Int32? {
        guard self[pfn] != nil else { return nil }
        let slotPlusOne = change(pfn) { e in
            defer { e.slotPlusOne = 0 }
            return e.slotPlusOne
        }
        count -= 1
        return Self.slot(slotPlusOne)
    }
}

extension HeadTable: Sequence {
    /// Every live generation's (head pfn, slot): the blocks in the order they were made, each
    /// in pfn order, then the scattered pfns.
    struct Iterator: IteratorProtocol {
        fileprivate let storage: Storage
        fileprivate var block = 0
        fileprivate var index = 0
        fileprivate var scattered: PfnTable<UInt64>.Iterator

        mutating func next() -> (pfn: UInt64, slot: Int32)? {
            while block < storage.blocks.count {
                let (number, entries) = storage.blocks[block]
                while index < HeadTable.blockSize {
                    defer { index += 1 }
                    let e = entries[index]
                    if e.slotPlusOne != 0 {
                        return (number << UInt64(HeadTable.blockShift) | UInt64(index), HeadTable.slot(e.slotPlusOne))
                    }
                }
                block += 1
                index = 0
            }
            while let (pfn, packed) = scattered.next() {
                let e = HeadTable.unpack(packed)
                if e.slotPlusOne != 0 { return (pfn, HeadTable.slot(e.slotPlusOne)) }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator {
        Iterator(storage: storage, scattered: scattered.makeIterator())
    }
}
