/// What the rules watch: mlock calls, reference checks and frees the trace says should not
/// have happened, each turned into a `Transition` with its evidence.
extension LifecycleEngine {
    /// An mlock probe: a step of the folio's life and, for `mlock_folio` inside a reclaim
    /// pass (or kswapd), an mlock that reclaim restored. Calls outside reclaim (faults into
    /// VM_LOCKED VMAs, mlock()) are the normal way folios get mlocked.
    mutating func handleMlock(_ call: MlockCall, _ r: RawRecord) {
        let a = call.arguments
        guard let pfn = pfn(ofPage: a.folio ?? a.page) else { return }
        let head = folio(pfn, r)
        step(head, r, "\(call.function.rawValue) mlocked=\(a.mlocked.map { $0 ? "1" : "0" } ?? "?")")
        guard call.function == .mlockFolio else { return }
        let kind = reclaiming[r.pid]
        guard kind != nil || tasks.isKswapd(r.pid) else { return }
        var proof = [evidence(r)]
        if kind != nil, let began = reclaimBegan[r.pid] { proof.insert(began, at: 0) }
        transitions.append(
            .mlockRestored(
                MlockRestore(
                    folio: ref(head),
                    reclaim: kind,
                    reclaimerMemcg: tasks.cgroup(of: r.pid),
                    wasMlocked: a.mlocked,
                    evidence: proof
                )
            )
        )
    }

    // MARK: reference checks

    /// `try_to_free_mem_cgroup_pages(memcg, ...)` names the target of the memcg reclaim pass
    /// that follows; `ptep_clear_flush_young()` inside memcg reclaim, in a VMA of a task
    /// outside that target (and outside its subtree), is a foreign reference.
    mutating func handleProbe(_ call: ProbeCall, _ r: RawRecord) {
        let a = call.arguments
        switch call.function {
        case .tryToFreeMemCgroupPages:
            learn(memcg: a.memcg, id: a.memcgID)
            reclaimTarget[r.pid] = ReclaimTarget(id: a.memcgID, pointer: a.memcg)
        case .ptepClearFlushYoung:
            guard let kind = reclaiming[r.pid], kind == .memcg || kind == .memcgSoftLimit,
                let layout = pteLayout, let pte = a.pte, case .present(let pfn) = layout.decode(pte)
            else { return }
            let young = a.young ?? layout.isYoung(pte)
            let (target, owner) = vmaOwner(a, reclaimer: r.pid)
            let head = folio(pfn, r)
            step(head, r, "ptep_clear_flush_young young=\(young) vma memcg \(owner)")
            var proof = [evidence(r)]
            if let began = reclaimBegan[r.pid] { proof.insert(began, at: 0) }
            transitions.append(
                .reclaimReference(
                    ReclaimReference(
                        folio: ref(head),
                        target: target,
                        owner: owner,
                        ownerPid: a.ownerPid,
                        young: young,
                        evidence: proof
                    )
                )
            )
        case .migrateFolioMove, .moveToNewFolio:
            // migrate_folio_move(src) calls move_to_new_folio(dst, src): either marks the move
            // (the latter where the former is inlined)
            guard let pfn = pfn(ofPage: a.folio) else { return }
            let head = folio(pfn, r)
            movingSource[r.pid] = head
            step(head, r, call.function.rawValue)
        case .migrateFolioDone:
            guard let pfn = pfn(ofPage: a.folio) else { return }
            let head = folio(pfn, r)
            step(head, r, "migrate_folio_done refcount=\(a.refcount.map(String.init) ?? "?")")
            // A moved source is done at the end of its own migrate_folio_move(), in the same
            // task, before the next folio's move; a move that returned -EAGAIN is retried and
            // is not followed by a done, so only the move just before counts.
            if movingSource[r.pid] == head {
                movingSource[r.pid] = nil
            } else if seesMigrateMoves {
                freedWhileIsolated(head, refcount: a.refcount, r)
            }
        default:
            break
        }
    }

    /// `migrate_folio_done(src)` not at the end of the task's `migrate_folio_move(src)`: the
    /// source was freed from under the migration (6.3+ `migrate_folio_unmap()`:
    /// `folio_ref_count(src) == 1`, only the isolation reference left) and is counted as
    /// succeeded. Claimed only inside a migrate_pages() call the trace saw begin, so that a
    /// move cannot have been cut off, never across lost events, and only in a capture that
    /// probes migrate_folio_move() or move_to_new_folio() (`seesMigrateMoves`).
    mutating func freedWhileIsolated(_ head: UInt64, refcount: Int32?, _ r: RawRecord) {
        let f = self[head]
        guard !f.bits.contains(.crossesLoss), refcount ?? 1 == 1,
            let start = migrating[r.pid], let began = migrationBegan[r.pid]
        else { return }
        transitions.append(
            .freedWhileIsolated(
                IsolatedFree(
                    folio: ref(head),
                    reason: migrateReasonName(start.reason),
                    migratingPid: r.pid,
                    evidence: [began, evidence(r)]
                )
            )
        )
    }

    /// A free (kmem:mm_page_free) of a folio whose every rmap change since its allocation is in
    /// the trace and adds up to a mapping still there. The kernel frees a folio at its last
    /// reference (__folio_put(), 6.1-6.12), and every mapping holds one: a free while mapped
    /// means a reference was dropped that was never taken. The kernel reports it itself when
    /// page checks are on (free_pages_prepare() -> free_page_is_bad(): "Bad page state ...
    /// nonzero mapcount"; on by default with CONFIG_DEBUG_VM, and from 6.4 with init_on_free
    /// or page poisoning). Only whole generations count: allocated in the trace, rmap seen,
    /// no lost events, and a capture with unmap probes; unprobed adds (fork's dup, a PMD split)
    /// only make the balance lower.
    mutating func freedWhileMapped(_ head: UInt64, _ f: LiveFolio, _ r: RawRecord) -> Bool {
        if seesUnmaps, f.rmapBalance < 0, f.bits.contains(.allocated), !f.bits.contains(.crossesLoss) {
            // More unmaps than maps since the allocation: a mapping was made where no probe
            // fires, and whatever else it hides, the balance cannot show.
            transitions.append(.freeNotJudged(UnjudgedFree(folio: ref(head), reason: Self.unseenMaps)))
            return false
        }
        guard seesUnmaps, f.rmapBalance > 0, f.bits.contains(.allocated), f.bits.contains(.sawRmap),
            !f.bits.contains(.crossesLoss), let mapped = lastMap[head]
        else { return false }
        // A mapping may have gone by a path the capture does not probe (a PMD-mapped THP
        // through folio_remove_rmap_pmd): then the balance proves nothing for this folio.
        if let blind = mappedFrees.notJudged(order: f.order) {
            transitions.append(.freeNotJudged(UnjudgedFree(folio: ref(head), reason: blind)))
            return false
        }
        transitions.append(
            .freedWhileMapped(
                MappedFree(
                    folio: ref(head),
                    mappings: f.rmapBalance,
                    mappedBy: mapped.pid,
                    freedBy: r.pid,
                    evidence: [evidence(mapped), evidence(r)],
                    unmapProbes: mappedFrees.unmapProbes
                )
            )
        )
        return true
    }

    /// Why a folio unmapped more often than the trace saw it mapped is not judged: fork copies
    /// a parent's mappings inline (copy_present_pte() -> folio_try_dup_anon_rmap_pte() and
    /// folio_dup_file_rmap_pte(), 6.8+; page_try_dup_anon_rmap() and page_dup_file_rmap()
    /// before), and before 6.8 a PMD split maps the PTEs inline (__split_huge_pmd_locked()).
    static let unseenMaps =
        "more unmaps than maps in the trace, so mapped where no probe fires (fork's rmap copies, a PMD split before 6.8)"

    /// A free of a folio the trace shows in the page cache: the page cache holds a reference
    /// until `__filemap_remove_folio()`/`delete_from_page_cache_batch()` take the folio out
    /// (both trace the delete, 4.14+), so a free without a delete means someone dropped the
    /// page cache's reference; the kernel reports it when page checks are on
    /// (`free_page_is_bad()`: "non-NULL mapping", a file folio's ->mapping is still set).
    /// Migration replaces a page-cache folio without either event (`folio_migrate_mapping()`)
    /// and frees the old one in the migrating task, and khugepaged's `collapse_file()` does the
    /// same for the small folios it collapses: those frees are not findings. Whole generations
    /// of the page cache only: the add seen, no lost events since. Holds for 4.14+ (the
    /// filemap events) with the migrate_pages() events (5.16+ mm_migrate_pages_start).
    mutating func freedInPageCache(_ head: UInt64, _ f: LiveFolio, _ r: RawRecord, _ context: FreeContext) {
        guard let addID = pageCacheAddID, seesPageCacheExits == (true, true), f.inPageCache,
            !f.bits.contains(.crossesLoss), context != .migration,
            !tasks.comm(r.pid).hasPrefix("khugepaged")
        else { return }
        let d = self[details: head]
        let added = RecordMark(
            eventID: addID,
            cpu: Int32(d.pageCacheAddCPU),
            timestamp: d.pageCacheAdded,
            pid: d.pageCacheAddPid
        )
        transitions.append(
            .freedInPageCache(
                PageCacheFree(
                    folio: ref(head),
                    page: FilePage(dev: d.dev, inode: d.inode, index: d.index),
                    freedBy: r.pid,
                    evidence: [evidence(added), evidence(r)]
                )
            )
        )
    }

    /// Whose VMA a young-bit check in memcg reclaim looked at, relative to the reclaim's
    /// target, and the target as far as the trace names it (`placeVMAOwner`).
    func vmaOwner(_ a: KprobeView, reclaimer pid: Int32) -> (target: UInt64?, owner: VMAOwner) {
        Self.placeVMAOwner(
            id: a.vmaMemcgID ?? a.vmaMemcgName.flatMap(tasks.cgroup(named:)),
            pointer: a.vmaMemcg,
            target: reclaimTarget[pid],
            reclaimer: tasks.cgroup(of: pid),
            paths: tasks.cgroupPaths,
            memcgIDs: memcgIDs
        )
    }

    /// Places the memcg of a VMA's owner (by cgroup id, or by a `struct mem_cgroup *` another
    /// probe paired with one) relative to memcg reclaim's target: in its subtree, foreign,
    /// or not judged, and why (`mem_cgroup_is_descendant()`, what 5.10's `mm_match_cgroup()`
    /// asks). Exact or silent: foreign only where the trace names both memcgs and their paths.
    /// - Parameters:
    ///   - target: what `try_to_free_mem_cgroup_pages()` said, if a probe saw it.
    ///   - reclaimer: the cgroup of the reclaiming task, if the trace names it.
    static func placeVMAOwner(
        id: UInt64?,
        pointer: UInt64?,
        target named: ReclaimTarget?,
        reclaimer: UInt64?,
        paths: [UInt64: String],
        memcgIDs: [UInt64: UInt64]
    ) -> (target: UInt64?, owner: VMAOwner) {
        // The same `struct mem_cgroup *` as the target: its own VMA, whatever the ids.
        if let p = pointer, p == named?.pointer { return (named?.id ?? memcgIDs[p], .inTarget) }
        guard let owner = id ?? pointer.flatMap({ memcgIDs[$0] }) else {
            return (named?.id, .notJudged(unnamedOwner))
        }
        if let target = named?.id ?? named?.pointer.flatMap({ memcgIDs[$0] }) {
            guard owner != target else { return (target, .inTarget) }
            guard let path = paths[owner], let targetPath = paths[target] else {
                return (target, .notJudged(unnamedPaths))
            }
            let inside = targetPath == "/" || path.hasPrefix(targetPath + "/")
            return (target, inside ? .inTarget : .foreign(owner))
        }
        // No probe named the target. Reclaim at a charge or at memory.high reclaims the
        // charging task's memcg or one of its ancestors, never the root (try_charge()'s
        // mem_over_limit, reclaim_high()): an owner that shares no ancestor below the root
        // with the reclaiming task is foreign to every target it can have. (A write to another
        // cgroup's memory.max or memory.reclaim reclaims that cgroup from the writer's task:
        // a capture that may hold those needs the try_to_free_mem_cgroup_pages probe.)
        guard let task = reclaimer else { return (nil, .notJudged(unnamedTarget)) }
        guard owner != task else { return (task, .inTarget) }
        guard let path = paths[owner], let taskPath = paths[task] else { return (nil, .notJudged(unnamedPaths)) }
        if path.hasPrefix(taskPath + "/") { return (task, .inTarget) }
        guard let top = taskPath.split(separator: "/").first.map({ "/" + $0 }) else {
            return (nil, .notJudged(unnamedTarget))
        }
        guard path != top, !path.hasPrefix(top + "/") else { return (nil, .notJudged(ancestorTarget)) }
        return (task, .foreign(owner))
    }

    /// Pairs a `struct mem_cgroup *` with its cgroup id where a probe fetched both, so that
    /// a probe that fetched only the pointer can be read.
    mutating func learn(memcg pointer: UInt64?, id: UInt64?) {
        guard let pointer, pointer != 0, let id, id != 0 else { return }
        memcgIDs[pointer] = id
    }

    static let unnamedOwner =
        "the VMA owner's memcg is not one the trace names (an id, a known name or path, or a pointer another probe pairs with an id)"
    static let unnamedPaths = "a memcg's path is not in the trace (made before it began, and no cgroup paths recorded)"
    static let unnamedTarget =
        "the reclaim's target memcg is not in the trace (a try_to_free_mem_cgroup_pages probe with memcg_cgid names it)"
    static let ancestorTarget =
        "the reclaim's target may be an ancestor the VMA's memcg shares (a try_to_free_mem_cgroup_pages probe with memcg_cgid names it)"
}
