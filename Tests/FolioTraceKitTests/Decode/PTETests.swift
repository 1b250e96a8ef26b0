import FolioTraceKit
import Testing

/// PTE decoding (x86-64, arm64), on entries seen in real captures.
@Suite struct PTETests {
    /// The pair KERNEL_NOTES.md records from a 6.18 compaction at one address.
    @Test func workedExampleFromHost() {
        #expect(X86PTE.pfn(0xe7ff_ffff_dfc7_c000) == 0x101c1f)
        #expect(X86PTE.pfn(0x8000_0001_4720_1005) == 0x147201)
        #expect(X86PTE.decode(0x8000_0001_4720_1005) == .present(pfn: 0x147201))
        #expect(X86PTE.decode(0) == .none)
    }

    /// A pair from the arm64 6.1 capture (linux-6.1-arm64), one address of sh during
    /// compact_memory: set_migration_pte pte=10000401ffe0 is a swap entry of type 28
    /// (SWP_MIGRATION_READ_EXCLUSIVE: MAX_SWAPFILES is 26 without CONFIG_DEVICE_PRIVATE) whose
    /// offset (bits 8..57) holds pfn 0x401ff and the young bit (offset bit 36 =
    /// SWP_MIG_YOUNG_BIT with 48-bit physical addresses); remove_migration_pte
    /// pte=2000004887ffc3 is present (PTE_VALID) with output address 0x4887f000. Read as
    /// x86-64 entries they name other pages.
    @Test func workedExampleFromArm64() throws {
        let layout = try #require(Arm64PTE(pageSize: 4096, release: "6.1.0-57-arm64"))
        #expect(layout.decode(0x1000_0401_ffe0) == .swap(type: 28, offset: 0x10_0004_01ff))
        #expect(layout.pfn(0x1000_0401_ffe0) == 0x401ff)
        #expect(layout.decode(0x20_0000_4887_ffc3) == .present(pfn: 0x4887f))
        #expect(X86PTE.pfn(0x1000_0401_ffe0) != 0x401ff)
        // Since 6.10 the offset starts at bit 12 and bit 11 marks a present PROT_NONE entry.
        let new = try #require(Arm64PTE(pageSize: 4096, release: "6.12.117+deb12-arm64"))
        #expect(new.pfn(0x401ff << 12 | 27 << 6) == 0x401ff)
        #expect(new.decode(0x401ff << 12 | 1 << 11) == .present(pfn: 0x401ff))
        // 16K pages: output address from bit 14, and 48 - 14 pfn bits in the offset.
        let k16 = try #require(Arm64PTE(pageSize: 16384, release: "6.12.117+deb12-arm64-16k"))
        #expect(k16.decode(0x1234 << 14 | 0x3) == .present(pfn: 0x1234))
        #expect(k16.pfn(1 << 46 | 0x1234 << 12 | 27 << 6) == 0x1234)
        // No release: the layout is unknown, not guessed.
        #expect(Arm64PTE(pageSize: 4096, release: nil) == nil)
        guard case .failure = PTELayout.of(machine: "aarch64", pageSize: 4096, release: nil) else {
            Issue.record("an arm64 trace without a release has no layout")
            return
        }
    }

    /// The fixtures that trace migration entries and frees, on a machine whose layout
    /// foliotrace knows (x86-64, arm64: `EventCatalog.pteLayout`; the others' entries are not
    /// decoded). Chosen when the tests are listed,
    /// so that a fixture without them is not run, rather than run and passed.
    static let withMigrationEntries: [String] = Fixtures.traces.filter { fixture in
        guard let file = try? TraceFile(path: Fixtures.path(fixture)),
            let catalog = try? EventCatalog(file: file),
            case .success = catalog.pteLayout,
            catalog.type(named: "kmem:mm_page_free") != nil,
            let set = catalog.type(named: "migrate:set_migration_pte")
        else { return false }
        // Defined is not enough: some captures enable the event and migrate nothing.
        guard var merged = try? file.mergedRecords() else { return false }
        while let r = try? merged.next() { if r.eventID == set.id { return true } }
        return false
    }

    /// In real compaction captures, a set_migration_pte's entry names the old folio: it is
    /// freed once its migration succeeds; the remove_migration_pte of the same address names
    /// the new folio, which the kernel then puts on an LRU (`mm_lru_insertion` of that pfn).
    @Test(arguments: withMigrationEntries)
    func migrationPairsNameRealFolios(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let layout = try catalog.pteLayout.get()
        let decoder = try EventDecoder(catalog: catalog, path: path)
        var merged = try file.mergedRecords()
        var pendingOld: [UInt64: UInt64] = [:]  // address -> old pfn
        var migratedOld = Set<UInt64>()
        var newPfns = Set<UInt64>()
        var freed = Set<UInt64>()
        var inserted = Set<UInt64>()
        var pairs = 0
        while let r = try merged.next() {
            switch decoder.decode(r) {
            case .setMigrationPTE(let e):
                guard case .swap = layout.decode(e.pte) else {
                    Issue.record("\(fixture): set_migration_pte \(String(e.pte, radix: 16)) is not a swap entry")
                    continue
                }
                pendingOld[e.address] = e.pfn
            case .removeMigrationPTE(let e):
                guard case .present(let new) = layout.decode(e.pte), let old = pendingOld.removeValue(forKey: e.address)
                else { continue }
                pairs += 1
                if new != old {
                    migratedOld.insert(old)
                    newPfns.insert(new)
                }
            case .pageFree(let f):
                for p in f.pfn..<(f.pfn + (1 << UInt64(f.order))) where migratedOld.contains(p) { freed.insert(p) }
            case .lruInsertion(let l):
                // Before or after the PTE is restored: 6.12's migrate_folio_move() adds the
                // destination to the LRU batch before remove_migration_ptes().
                inserted.insert(l.pfn)
            default: break
            }
        }
        try #require(pairs > 0, "\(fixture) restored no migration entry")
        inserted.formIntersection(newPfns)
        // Most old pages are freed within the capture, and many new ones inserted (the LRU-add
        // batch may drain after the capture ends, and tail pages are never inserted
        // themselves); a PTE decoded wrongly would match (almost) none of them.
        #expect(
            Double(freed.count) >= 0.5 * Double(migratedOld.count),
            "\(fixture): \(freed.count) of \(migratedOld.count) migrated-from pfns freed"
        )
        if catalog.type(named: "pagemap:mm_lru_insertion") != nil {
            #expect(
                Double(inserted.count) >= 0.2 * Double(newPfns.count),
                "\(fixture): \(inserted.count) of \(newPfns.count) migrated-to pfns inserted on an LRU"
            )
        }
    }
}
