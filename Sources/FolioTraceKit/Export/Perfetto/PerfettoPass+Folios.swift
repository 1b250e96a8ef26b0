/// Folio generation tracks: their states as slices, and the flows of their migrations.
extension PerfettoPass {
    /// Brings the track of the folio at `head` up to date with the engine: opens, changes or
    /// closes its state slices.
    mutating func observe(_ head: UInt64, _ ts: UInt64) {
        guard let slot = engine.live[head] else {
            if let t = tracked.removeValue(forKey: head) { close(t, ts, "freed") }
            return
        }
        let f = engine.folios[slot]
        let d = engine.folios[details: slot]
        if let t = tracked[head], t.generation != d.generation {
            tracked[head] = nil
            close(t, ts, "ended")
        }
        var t: PerfettoFolio
        if let existing = tracked[head] {
            t = existing
        } else {
            guard options.allFolios || wantedPfns.contains(head) else { return }
            let key = PerfettoFolioKey(pfn: head, generation: d.generation)
            if !wanted.contains(key) {
                guard options.allFolios, folioTracks < options.folioLimit else { return }
            }
            t = PerfettoFolio(generation: d.generation, track: PerfettoTrack.folio(folioTracks))
            folioTracks += 1
            writer.descriptor(
                uuid: t.track,
                parent: PerfettoTrack.foliosGroup,
                name: "pfn 0x\(String(head, radix: 16)) gen \(d.generation) order \(f.order)"
            )
            var args: [(String, PerfettoValue)] = [
                ("pfn", .uint(head)), ("generation", .uint(UInt64(d.generation))), ("order", .uint(UInt64(f.order))),
                ("allocated_in_trace", .bool(f.bits.contains(.allocated))),
            ]
            if let m = engine.owner(f) { args.append(("memcg", .uint(m))) }
            writer.event(ts, type: E.typeSliceBegin, track: t.track, name: "folio order \(f.order)", annotations: args)
        }
        let mapped = f.bits.contains(.sawRmap) && f.rmapBalance > 0
        let isolated = f.migrationEntries > 0
        if t.pageCache != f.inPageCache {
            t.pageCache = f.inPageCache
            if f.inPageCache {
                begin(
                    &t,
                    .pageCache,
                    ts,
                    "page cache",
                    [
                        ("dev", .string("\(d.dev >> 20):\(d.dev & 0xfffff)")), ("inode", .uint(d.inode)),
                        ("index", .uint(d.index)),
                    ]
                )
            } else {
                end(&t, .pageCache, ts)
            }
        }
        if t.lru != f.lru {
            if t.lru != LRUList.unknown.rawValue { end(&t, .lru, ts) }
            t.lru = f.lru
            if let l = LRUList(rawValue: f.lru), l != .unknown { begin(&t, .lru, ts, l.description, []) }
        }
        if t.mapped != mapped {
            t.mapped = mapped
            if mapped { begin(&t, .mapped, ts, "mapped", []) } else { end(&t, .mapped, ts) }
        }
        if t.isolated != isolated {
            t.isolated = isolated
            if isolated { begin(&t, .isolated, ts, "isolated (migration entries)", []) } else { end(&t, .isolated, ts) }
        }
        tracked[head] = t
    }

    mutating func begin(
        _ t: inout PerfettoFolio,
        _ s: PerfettoFolioState,
        _ ts: UInt64,
        _ name: String,
        _ args: [(String, PerfettoValue)]
    ) {
        let uuid = t.track | s.rawValue
        if t.described & 1 << s.rawValue == 0 {
            t.described |= 1 << s.rawValue
            writer.descriptor(uuid: uuid, parent: t.track, name: s.name, rank: Int32(s.rawValue))
        }
        writer.event(ts, type: E.typeSliceBegin, track: uuid, name: name, annotations: args)
    }

    func end(_ t: inout PerfettoFolio, _ s: PerfettoFolioState, _ ts: UInt64) {
        writer.event(ts, type: E.typeSliceEnd, track: t.track | s.rawValue)
    }

    mutating func close(_ t: PerfettoFolio, _ ts: UInt64, _ how: String) {
        var t = t
        if t.pageCache { end(&t, .pageCache, ts) }
        if t.lru != LRUList.unknown.rawValue { end(&t, .lru, ts) }
        if t.mapped { end(&t, .mapped, ts) }
        if t.isolated { end(&t, .isolated, ts) }
        writer.event(ts, type: E.typeSliceEnd, track: t.track, annotations: [("end", .string(how))])
    }

    /// The old folio of the migration entry a remove_migration_pte/pmd restores (the oldest at
    /// its address, as the engine joins it), read before
    /// the engine forgets it.
    func joinable(address: UInt64, new: UInt64?, _ r: RawRecord) -> (UInt64, UInt64, UInt64)? {
        guard let new, let old = engine.migrationEntries[MigrationEntryKey(pid: r.pid, address: address)],
            new != old
        else { return nil }
        return (old, engine.head(of: old) ?? old, new)
    }

    /// A migration the engine joined old -> new: a flow between the two folios' tracks.
    mutating func flowMigration(_ m: (old: UInt64, oldHead: UInt64, new: UInt64), _ r: RawRecord) {
        let ts = r.timestamp
        let target = engine.head(of: m.new &- (m.old &- m.oldHead)) ?? (m.new &- (m.old &- m.oldHead))
        let source = tracked[m.oldHead]
        // A tracked folio's migration gets a flow, and its new folio a track (even past the
        // limit: the flow needs its other end); so does, with --all-folios and below the limit,
        // a migration whose old folio the trace never showed alive (the flow starts on the
        // migrating task's track). An untracked old folio was left out by the limit.
        let unseen = engine.live[m.oldHead] == nil && options.allFolios && folioTracks < options.folioLimit
        guard source != nil || unseen, let slot = engine.live[target] else { return }
        // The new folio gets a track: the flow needs its other end.
        let key = PerfettoFolioKey(pfn: target, generation: engine.folios[details: slot].generation)
        wanted.insert(key)
        wantedPfns.insert(target)
        observe(target, ts)
        guard let to = tracked[target] else { return }
        let id = nextFlow
        nextFlow += 1
        let reason = engine.migrating[r.pid].map { migrateReasonName($0.reason) }
        var args: [(String, PerfettoValue)] = [
            ("old_pfn", .uint(m.oldHead)), ("new_pfn", .uint(target)), ("pid", .int(Int64(r.pid))),
        ]
        if let reason { args.append(("reason", .string(reason))) }
        let from = source?.track ?? thread(r.pid)
        writer.event(
            ts,
            type: E.typeInstant,
            track: from,
            name: "migrated to 0x\(String(target, radix: 16))",
            annotations: args,
            flows: [id]
        )
        writer.event(
            ts,
            type: E.typeInstant,
            track: to.track,
            name: "migrated from 0x\(String(m.oldHead, radix: 16))",
            annotations: args,
            terminatingFlows: [id]
        )
        result.migrationFlows += 1
    }
}
