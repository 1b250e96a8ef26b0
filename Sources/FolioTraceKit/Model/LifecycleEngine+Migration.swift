/// Migrations joined old pfn -> new pfn through the migration entries' user addresses.
extension LifecycleEngine {
    /// A migration entry for the page `old` of a folio of `order` (set_migration_pte records
    /// the folio's order with each PTE it replaces; folios are naturally aligned).
    mutating func installMigrationEntry(address: UInt64, old: UInt64, order: Int32, _ r: RawRecord) {
        let key = MigrationEntryKey(pid: r.pid, address: address)
        if migrationEntries[key] == nil {
            migrationEntries[key] = old
        } else {
            laterMigrationEntries[key, default: []].append(old)
        }
        let order = UInt8(clamping: max(0, min(order, 15)))
        let head = folio(old & ~((1 << UInt64(order)) - 1), r, order: order)
        self[head].migrationEntries += 1
        step(head, r, "addr=0x\(String(address, radix: 16)) old pfn=0x\(String(old, radix: 16))")
    }

    /// Joins a migration: the entry at `address` that held the old pfn now maps `new`. The
    /// same pfn means the migration of that folio failed and the old mapping came back.
    mutating func removeMigrationEntry(address: UInt64, new: UInt64, _ r: RawRecord) {
        let key = MigrationEntryKey(pid: r.pid, address: address)
        guard let old = migrationEntries[key] else { return }
        // The next entry at this address, if another was queued (rare: the check of an empty
        // table keeps the common case to one lookup).
        if !laterMigrationEntries.isEmpty, var later = laterMigrationEntries.removeValue(forKey: key) {
            migrationEntries[key] = later.removeFirst()
            if !later.isEmpty { laterMigrationEntries[key] = later }
        } else {
            migrationEntries[key] = nil
        }
        let oldHead = head(of: old) ?? old
        if live[oldHead] != nil { self[oldHead].migrationEntries -= 1 }
        if let start = migrating[r.pid], live[oldHead] != nil {
            self[oldHead].migrateReason = UInt8(truncatingIfNeeded: start.reason)
        }
        if new == old {
            summary.migration.restored += 1
            step(oldHead, r, "addr=0x\(String(address, radix: 16)) restored (migration failed)")
            return
        }
        // The same page of the new folio: new head = new - (old - old head).
        let newHead = new &- (old &- oldHead)
        let source = live[oldHead].map { folios[$0] }
        guard migratedTo[oldHead] != newHead else { return }
        if head(of: newHead) == nil {
            begin(pfn: newHead, order: source?.order ?? 0, r, allocated: false)
            summary.beganBeforeTrace -= 1  // a migration target, born here, not before the trace
        }
        let target = head(of: newHead) ?? newHead
        // (UInt64.max was the sentinel of "none" when this was a field of the folio.)
        migratedFrom[target] = oldHead == UInt64.max ? nil : oldHead
        if let s = source, owner(s) != nil {
            // mem_cgroup_migrate() hands the charge to the new folio (6.7+; 6.1 charges it).
            if self[target].memcgRow != s.memcgRow {
                tally(out: target)
                self[target].memcgRow = s.memcgRow
                tally(in: target)
                self[target].attribution = s.attribution
            }
        }
        if live[oldHead] != nil { migratedTo[oldHead] = target }
        summary.migration.joined += 1
        step(oldHead, r, "migrated to pfn=0x\(String(target, radix: 16))")
        step(target, r, "migrated from pfn=0x\(String(oldHead, radix: 16))")
    }
}

struct MigrationEntryKey: Hashable {
    var pid: Int32
    var address: UInt64
}
