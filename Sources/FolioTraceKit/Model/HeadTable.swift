import CPrefetch
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
/// page), found through a directory with one word per block. Real memory is dense where a
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
/// Not every touched block is dense, though: a small capture's folios can sit a few to a block
/// (memcg-reclaim-foreign-v6.dat: 4 170 pfns in 223 blocks, 7 in the median one), where 4 KiB
/// blocks cost 246 bytes a live folio, more than the rest of the engine. So while the table is
/// small (under 65 536 pfns, `largeTable`) a block is made only when its 64th distinct pfn
/// comes (`densePfns`: at most 64 bytes a pfn, against the 23-46 of a hash entry), and until
/// then its pfns are kept in a hash table (`sparse`), which the directory's word for the block
/// counts. Past that, a block is made at its first pfn while all blocks cost at most 64 bytes
/// a distinct pfn (`blockBytesPerPfn`), as a large trace's dense memory allows at once; a
/// damaged or fabricated file with pfns scattered one to a block stays in the hash table.
/// Either way blocks never cost more than 64 bytes a distinct pfn.
///
/// The directory covers pfns below 2^30 (4 TiB of 4 KiB pages; 16 MiB of address space) and is
/// mapped zeroed (anonymous memory reserved without being committed, outside malloc's heap), so
/// the kernel gives it memory only where a word is written (8 bytes a block: 48 KiB for a
/// machine with 24 GiB). pfns above that, and every pfn when the address space for the
/// directory cannot be had, are kept in a second hash table (`beyond`).
struct HeadTable {
    /// A slot value that says "no live generation here".
    static let notLive: Int32 = -1

    /// log2 of the pfns in a block: 512 entries of 8 bytes, one page.
    static let blockShift = 9
    static let blockSize = 1 << blockShift
    /// pfns from here up are kept in `beyond`.
    static let directLimit: UInt64 = 1 << 30
    /// The distinct pfns that make a block in a small table: its 64th is moved into one with
    /// the 63 before it, so no block costs more than 64 bytes a distinct pfn of it.
    static let densePfns = 64
    /// Blocks may cost up to this many bytes for each distinct pfn of the table.
    static let blockBytesPerPfn = 64
    static let blockBytes = blockSize * MemoryLayout<Entry>.stride
    /// From this many distinct pfns up (4 MiB at 64 bytes each), a block is made at its first
    /// pfn, or the next change of a pfn kept in `sparse`, while all blocks cost at most
    /// `blockBytesPerPfn` a distinct pfn: a trace this large spends its time in lookups, and
    /// its blocks are its memory's small part (the scale capture: 9.7 MiB for 394 thousand
    /// pfns, where waiting for the 64th pfn of every block kept 4.5% of them hashed to the end,
    /// and cost 3.2% more instructions).
    static let largeTable = 1 << 16

    /// One pfn: 0 in both fields is "never seen", so blocks start zeroed.
    struct Entry {
        /// The live generation's slot + 1 (below 2^31: slots are `Int32`), 0 when none is
        /// live; bit 31 (`large`) set when that generation is a folio of order > 0.
        var slotPlusOne: UInt32
        /// Generations this pfn has had; the live one, if any, is the last (`generations - 1`).
        var generations: UInt32
    }

    /// What the directory says of one block, in one word:
    /// - 0: no pfn of it seen;
    /// - the address of its entries (aligned, so bit 0 is clear);
    /// - bit 0 set: its pfns are in `sparse`; bits 1-15 count them, bits 16 and up are the
    ///   block's place in `Storage.touched` (the order in which iteration visits it).
    struct Word {
        var raw: UInt

        static let none = Word(raw: 0)
        static let sparseBit: UInt = 1

        @inline(__always)
        var isSparse: Bool { raw & Self.sparseBit != 0 }
        /// The block's entries, for a word that is neither `none` nor sparse.
        @inline(__always)
        var entries: UnsafeMutablePointer<Entry> { UnsafeMutablePointer(bitPattern: raw).unsafelyUnwrapped }

        @inline(__always)
        static func sparse(pfns: Int, touched: Int) -> Word {
            Word(raw: UInt(touched) << 16 | UInt(pfns) << 1 | sparseBit)
        }
        var sparsePfns: Int { Int(raw >> 1 & 0x7fff) }
        var touched: Int { Int(raw >> 16) }
    }

    /// The blocks and the directory, shared by copies of the table until one of them changes
    /// (`mutating` methods copy it first when it is not uniquely referenced, as `Array` does).
    final class Storage {
        /// One word per block below `limit` (`Word`).
        let directory: UnsafeMutablePointer<Word>
        /// The pfns the directory covers: `HeadTable.directLimit`, or 0 when the address space
        /// for it could not be had, or a `ulimit -v` leaves too little room for it
        /// (`AddressSpace`): every pfn is then in `beyond`.
        let limit: UInt64
        private let mapped: Bool
        /// Every block with a pfn seen, by block number, in the order of its first pfn: for
        /// iteration (in the order a table that made every block at its first pfn had), copies
        /// and freeing.
        var touched: [UInt64] = []
        /// Blocks made.
        var made = 0

        static let directoryCount = Int(HeadTable.directLimit >> UInt64(HeadTable.blockShift))
        static let directoryBytes = directoryCount * MemoryLayout<Word>.stride

        init() {
            // Under a tight address-space limit the directory would take what the pass needs.
            let raw =
                !AddressSpace.roomy
                ? nil
                : mmap(
                    nil,
                    Self.directoryBytes,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1,
                    0
                )
            if let raw, raw != MAP_FAILED {
                directory = raw.bindMemory(to: Word.self, capacity: Self.directoryCount)
                limit = HeadTable.directLimit
                mapped = true
            } else {
                directory = .allocate(capacity: 1)
                directory.initialize(to: .none)
                limit = 0
                mapped = false
            }
        }

        deinit {
            for number in touched where !directory[Int(number)].isSparse { free(directory[Int(number)].entries) }
            if mapped { munmap(directory, Self.directoryBytes) } else { directory.deallocate() }
        }

        /// A new block of zeroed entries, recorded in the directory.
        func makeBlock(_ number: UInt64) -> UnsafeMutablePointer<Entry> {
            let raw = calloc(HeadTable.blockSize, MemoryLayout<Entry>.stride)!
            let block = raw.bindMemory(to: Entry.self, capacity: HeadTable.blockSize)
            directory[Int(number)] = Word(raw: UInt(bitPattern: block))
            made += 1
            return block
        }

        func copy() -> Storage {
            let c = Storage()
            c.touched = touched
            for number in touched {
                let word = directory[Int(number)]
                if word.isSparse {
                    c.directory[Int(number)] = word
                } else {
                    c.makeBlock(number).update(from: word.entries, count: HeadTable.blockSize)
                }
            }
            return c
        }
    }

    private var storage = Storage()
    /// The pfns of blocks not yet made, their entries packed in 64 bits (`pack`). Here and not
    /// in `Storage`: a class's stored `var` is checked for exclusive access at run time, on
    /// every lookup (`swift_beginAccess`).
    private var sparse = PfnTable<UInt64>()
    /// pfns the directory does not cover, packed the same way.
    private var beyond = PfnTable<UInt64>()
    /// Distinct head pfns seen.
    private(set) var pfns = 0
    /// Head pfns with a live generation.
    private(set) var count = 0

    /// Blocks made, and pfns kept in the hash tables instead (for the memory tests).
    var blockCount: Int { storage.made }
    var scatteredCount: Int { sparse.count + beyond.count }
    /// Bytes of blocks and hash tables (not the directory, whose pages the kernel backs as they
    /// are written: 8 bytes a touched block).
    var bytes: Int {
        storage.made * Self.blockSize * MemoryLayout<Entry>.stride
            + (sparse.capacity + beyond.capacity) * 2 * MemoryLayout<UInt64>.stride
    }

    @inline(__always)
    private static func pack(_ e: Entry) -> UInt64 { UInt64(e.generations) << 32 | UInt64(e.slotPlusOne) }
    @inline(__always)
    private static func unpack(_ v: UInt64) -> Entry {
        Entry(slotPlusOne: UInt32(truncatingIfNeeded: v), generations: UInt32(truncatingIfNeeded: v >> 32))
    }

    @inline(__always)
    private static func index(_ pfn: UInt64) -> Int { Int(pfn & UInt64(blockSize - 1)) }

    @inline(__always)
    private func entry(_ pfn: UInt64) -> Entry {
        if pfn < storage.limit {
            let word = storage.directory[Int(pfn >> UInt64(Self.blockShift))]
            if !word.isSparse {
                if word.raw == 0 { return Entry(slotPlusOne: 0, generations: 0) }
                return word.entries[Self.index(pfn)]
            }
            return hashed(pfn, in: sparse)
        }
        if beyond.count == 0 { return Entry(slotPlusOne: 0, generations: 0) }
        return hashed(pfn, in: beyond)
    }

    /// The entry of a pfn kept in `table`: out of line, so that the inlined lookup of a pfn
    /// in a block stays small.
    @inline(never)
    private func hashed(_ pfn: UInt64, in table: PfnTable<UInt64>) -> Entry {
        Self.unpack(table[pfn] ?? 0)
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

    /// Asks the cache for `pfn`'s entry without waiting for it (`LifecycleEngine.prefetch`):
    /// a pfn in a block, the case of a large trace; a pfn kept hashed is left to its lookup.
    @inline(__always)
    func prefetch(_ pfn: UInt64) {
        guard pfn < storage.limit else { return }
        let word = storage.directory[Int(pfn >> UInt64(Self.blockShift))]
        if word.raw != 0, !word.isSparse { foliotrace_prefetch(word.entries + Self.index(pfn)) }
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

    /// Changes the entry of `pfn` (a new pfn's is zero first), where it lives.
    @inline(__always)
    private mutating func change<R>(_ pfn: UInt64, _ body: (inout Entry) -> R) -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        if pfn < storage.limit {
            let word = storage.directory[Int(pfn >> UInt64(Self.blockShift))]
            if !word.isSparse && word.raw != 0 { return body(&word.entries[Self.index(pfn)]) }
            return changeSparse(pfn, word, body)
        }
        return changeBeyond(pfn, body)
    }

    /// `change` for a pfn the directory does not cover.
    @inline(never)
    private mutating func changeBeyond<R>(_ pfn: UInt64, _ body: (inout Entry) -> R) -> R {
        var e = Self.unpack(beyond[pfn] ?? 0)
        let result = body(&e)
        beyond[pfn] = e.generations == 0 ? nil : Self.pack(e)
        return result
    }

    /// `change` for a pfn of a block not made (`word`): its entry in `sparse`, and the block's
    /// count of pfns kept there; or the block made, with the pfns it had there moved in, when
    /// this is its 64th distinct pfn, or the table is large and blocks stay within their
    /// budget (`largeTable`).
    @inline(never)
    private mutating func changeSparse<R>(_ pfn: UInt64, _ word: Word, _ body: (inout Entry) -> R) -> R {
        let number = pfn >> UInt64(Self.blockShift)
        let kept = word.isSparse ? word.sparsePfns : 0
        var e = kept == 0 ? Entry(slotPlusOne: 0, generations: 0) : Self.unpack(sparse[pfn] ?? 0)
        let new = e.generations == 0
        let result = body(&e)
        guard e.generations != 0 else { return result }  // nothing to keep (`body` left it unseen)
        let seen = kept + (new ? 1 : 0)
        let budget = Self.blockBytesPerPfn * (pfns + (new ? 1 : 0))
        let large = pfns >= Self.largeTable && (storage.made + 1) * Self.blockBytes <= budget
        guard seen >= Self.densePfns || large else {
            let touched = word.isSparse ? word.touched : storage.touched.count
            if !word.isSparse { storage.touched.append(number) }
            sparse[pfn] = Self.pack(e)
            storage.directory[Int(number)] = .sparse(pfns: seen, touched: touched)
            return result
        }
        if word.raw == 0 { storage.touched.append(number) }
        let block = storage.makeBlock(number)
        let base = number << UInt64(Self.blockShift)
        var left = kept
        for i in 0..<Self.blockSize where left > 0 {
            if let packed = sparse.removeValue(forKey: base | UInt64(i)) {
                block[i] = Self.unpack(packed)
                left -= 1
            }
        }
        block[Self.index(pfn)] = e
        return result
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
    /// Every live generation's (head pfn, slot): the blocks in the order of their first pfns,
    /// each in pfn order (made or not: the order a table that made every block at once would
    /// give, so that this table's thresholds never show in an output), then the pfns beyond the
    /// directory.
    struct Iterator: IteratorProtocol {
        fileprivate let storage: Storage
        fileprivate var block = 0
        fileprivate var index = 0
        /// The live pfns of blocks not made, by their block's place in `Storage.touched`, then pfn.
        fileprivate let sparse: [(touched: Int, pfn: UInt64, slot: Int32)]
        fileprivate var nextSparse = 0
        fileprivate var beyond: PfnTable<UInt64>.Iterator

        mutating func next() -> (pfn: UInt64, slot: Int32)? {
            while block < storage.touched.count {
                let number = storage.touched[block]
                let word = storage.directory[Int(number)]
                if word.isSparse {
                    if nextSparse < sparse.count, sparse[nextSparse].touched == block {
                        defer { nextSparse += 1 }
                        return (sparse[nextSparse].pfn, sparse[nextSparse].slot)
                    }
                } else {
                    let entries = word.entries
                    while index < HeadTable.blockSize {
                        defer { index += 1 }
                        let e = entries[index]
                        if e.slotPlusOne != 0 {
                            return (
                                number << UInt64(HeadTable.blockShift) | UInt64(index), HeadTable.slot(e.slotPlusOne)
                            )
                        }
                    }
                }
                block += 1
                index = 0
            }
            while let (pfn, packed) = beyond.next() {
                let e = HeadTable.unpack(packed)
                if e.slotPlusOne != 0 { return (pfn, HeadTable.slot(e.slotPlusOne)) }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator {
        var live: [(touched: Int, pfn: UInt64, slot: Int32)] = []
        for (pfn, packed) in sparse {
            let e = Self.unpack(packed)
            guard e.slotPlusOne != 0 else { continue }
            let touched = storage.directory[Int(pfn >> UInt64(Self.blockShift))].touched
            live.append((touched, pfn, Self.slot(e.slotPlusOne)))
        }
        live.sort { ($0.touched, $0.pfn) < ($1.touched, $1.pfn) }
        return Iterator(storage: storage, sparse: live, beyond: beyond.makeIterator())
    }
}
