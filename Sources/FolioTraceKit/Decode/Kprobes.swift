/// Kernel functions foliotrace understands as kprobe events.
///
/// There is no mainline tracepoint for rmap add/remove or for charge moves, so captures put
/// kprobes on these functions (names per kernel version in KERNEL_NOTES.md and the capture
/// catalog). A probe event is recognised by its name, which must be the function's name
/// (trace-cmd/perf's default `p_FUNC_0` form is accepted too), in any group.
public enum KprobeFunction: String, CaseIterable, Sendable {
    // rmap, up to 6.7 (page-based)
    case pageAddAnonRmap = "page_add_anon_rmap"
    case pageAddNewAnonRmap = "page_add_new_anon_rmap"
    case pageAddFileRmap = "page_add_file_rmap"
    case pageRemoveRmap = "page_remove_rmap"
    // rmap, 6.8 and later (folio-based)
    case folioAddAnonRmapPtes = "folio_add_anon_rmap_ptes"
    case folioAddAnonRmapPmd = "folio_add_anon_rmap_pmd"
    case folioAddNewAnonRmap = "folio_add_new_anon_rmap"
    case folioAddFileRmapPtes = "folio_add_file_rmap_ptes"
    case folioAddFileRmapPmd = "folio_add_file_rmap_pmd"
    case folioRemoveRmapPtes = "folio_remove_rmap_ptes"
    case folioRemoveRmapPmd = "folio_remove_rmap_pmd"
    /// The out-of-line workers the inline `_ptes`/`_pmd` wrappers call on some builds.
    case folioAddAnonRmap = "__folio_add_anon_rmap"
    case folioAddFileRmap = "__folio_add_file_rmap"
    case folioRemoveRmap = "__folio_remove_rmap"
    // memcg charge
    case memCgroupMoveAccount = "mem_cgroup_move_account"
    case chargeMemcg = "charge_memcg"
    case memCgroupMigrate = "mem_cgroup_migrate"
    case memCgroupUncharge = "__mem_cgroup_uncharge"
    case memCgroupUnchargeFolios = "__mem_cgroup_uncharge_folios"
    case memCgroupReplaceFolio = "mem_cgroup_replace_folio"
    // reclaim: the young-bit check of one PTE (arch/x86/mm/pgtable.c), called by
    // page_referenced_one()/folio_referenced_one() and, before 5.11 (5.10.4 in the 5.10
    // series), by try_to_unmap_one() without TTU_IGNORE_ACCESS; and memcg reclaim's entry
    case ptepClearFlushYoung = "ptep_clear_flush_young"
    case tryToFreeMemCgroupPages = "try_to_free_mem_cgroup_pages"
    // migration, 6.3+ (mm/migrate.c): migrate_folio_move(put_new_folio, private, src, dst, ...)
    // moves an unmapped source; migrate_folio_done(src, reason) frees the source, after a
    // move or, from migrate_folio_unmap(), when the folio was freed from under us
    case migrateFolioMove = "migrate_folio_move"
    case migrateFolioDone = "migrate_folio_done"
    // move_to_new_folio(dst, src, mode) (mm/migrate.c, 6.1 and 6.12: out of line in Debian's
    // x86-64 and arm64 builds) does the move inside migrate_folio_move(), before that frees
    // the source through migrate_folio_done(): where migrate_folio_move() is inlined into
    // migrate_pages_batch() (Debian's arm64 6.12), the move as a probe can see it
    case moveToNewFolio = "move_to_new_folio"
    // mlock (6.1 mm/mlock.c: mlock_folio, mlock_new_page, munlock_page; 6.3+ mlock_new_folio,
    // munlock_folio). mlock_vma_folio() and munlock_vma_folio() are inline wrappers.
    case mlockFolio = "mlock_folio"
    case mlockNewPage = "mlock_new_page"
    case mlockNewFolio = "mlock_new_folio"
    case munlockPage = "munlock_page"
    case munlockFolio = "munlock_folio"

    /// Whether this function maps or unmaps (as opposed to charging).
    public var isRmap: Bool { rmapAction != nil }

    /// Whether this function sets (or drops) a folio's mlock.
    public var isMlock: Bool {
        switch self {
        case .mlockFolio, .mlockNewPage, .mlockNewFolio, .munlockPage, .munlockFolio: return true
        default: return false
        }
    }

    /// What an rmap function does to the mapcount.
    public var rmapAction: RmapCall.Action? {
        switch self {
        case .pageAddAnonRmap, .folioAddAnonRmapPtes, .folioAddAnonRmapPmd, .folioAddAnonRmap: return .addAnon
        case .pageAddNewAnonRmap, .folioAddNewAnonRmap: return .addNewAnon
        case .pageAddFileRmap, .folioAddFileRmapPtes, .folioAddFileRmapPmd, .folioAddFileRmap: return .addFile
        case .pageRemoveRmap, .folioRemoveRmapPtes, .folioRemoveRmapPmd, .folioRemoveRmap: return .remove
        default: return nil
        }
    }

    /// Finds the function a probe event is named after: "page_remove_rmap",
    /// "p_page_remove_rmap_0" and "page_remove_rmap_1" all name page_remove_rmap.
    public init?(eventName: String) {
        if let f = KprobeFunction(rawValue: eventName) {
            self = f
            return
        }
        var name = Substring(eventName)
        if name.hasPrefix("p_") { name = name.dropFirst(2) }
        if let underscore = name.lastIndex(of: "_"), name[name.index(after: underscore)...].allSatisfy(\.isNumber),
            underscore < name.index(before: name.endIndex)
        {
            name = name[..<underscore]
        }
        guard let f = KprobeFunction(rawValue: String(name)) else { return nil }
        self = f
    }
}

/// The named arguments a kprobe event fetched, resolved once per probe.
///
/// Argument names follow the kernel's parameter names (`folio`, `page`, `nr`/`nr_pages`,
/// `vma`, `address`/`addr`, `flags`, `compound`, `from`, `to`, `memcg`) and the capture
/// catalog's names for struct fields (`mapcount`, `refcount`, `pflags`, `flags1`, `mapping`,
/// `index`, `cmapcount`, `large_mapcount`, `entire_mapcount`, `*_cgid`).
struct KprobeArgs {
    let folio, page, nr, vma, address, flags, compound, from, to, memcg: FieldSlot?
    let fromID, toID, memcgID: FieldSlot?
    let mapcount, refcount, pageFlags, flags1, mapping, index, compoundMapcount, largeMapcount,
        entireMapcount, mlocked: FieldSlot?
    let pte, young, vmaMemcg, vmaMemcgID, vmaMemcgName, ownerPid: FieldSlot?

    init(_ r: FieldResolver) {
        // migrate_folio_move(..., src, dst, ...) and migrate_folio_done(src, reason) name their
        // folio `src`, as a user naming the arguments after the prototype does.
        folio = r.optional("folio", "src")
        page = r.optional("page")
        nr = r.optional("nr", "nr_pages")
        vma = r.optional("vma")
        address = r.optional("address", "addr")
        flags = r.optional("flags")
        compound = r.optional("compound")
        from = r.optional("from")
        to = r.optional("to")
        memcg = r.optional("memcg")
        fromID = r.optional("from_cgid", "from_id")
        toID = r.optional("to_cgid", "to_id")
        memcgID = r.optional("memcg_cgid", "memcg_id")
        mapcount = r.optional("mapcount")
        refcount = r.optional("refcount")
        pageFlags = r.optional("pflags", "page_flags")
        flags1 = r.optional("flags1")
        mapping = r.optional("mapping")
        index = r.optional("index")
        compoundMapcount = r.optional("cmapcount", "compound_mapcount")
        largeMapcount = r.optional("large_mapcount")
        entireMapcount = r.optional("entire_mapcount")
        mlocked = r.optional("mlocked")
        pte = r.optional("pte")
        young = r.optional("young")
        // The VMA owner's memcg as a pointer (ptep_clear_flush_young has no memcg parameter,
        // so a `memcg` argument of its probe can only be that one: see `KprobeView.vmaMemcg`).
        vmaMemcg = r.optional("vma_memcg", "owner_memcg", "mem_cgroup")
        vmaMemcgID = r.optional("vma_cgid", "vma_memcg_id", "owner_cgid")
        // A memcg by name or path (a `+0(...):string` fetch of the cgroup's kernfs name).
        vmaMemcgName = r.string(
            "vma_memcg_name",
            "memcg_name",
            "vma_memcg_path",
            "memcg_path",
            "cgroup_name",
            "cgname",
            "cgroup",
            "name"
        )
        ownerPid = r.optional("owner_pid")
    }
}

extension KprobeArgs {
    /// The argument a rule cannot do without for this function, when the probe did not fetch
    /// it (its name as the kernel's prototype or `record --probes auto` names it): the probe's
    /// records are then counted, not modelled, and the rules that read it say they cannot run.
    func missing(for f: KprobeFunction) -> String? {
        switch f {
        case .ptepClearFlushYoung:
            // The PTE (its pfn, and its young bit where the probe did not fetch that alone) and
            // the memcg owning the VMA's mm, as an id, a name or a pointer.
            if pte == nil { return "pte" }
            if vmaMemcgID == nil && vmaMemcgName == nil && vmaMemcg == nil && memcg == nil {
                return "vma_cgid' or 'memcg_name"
            }
            return nil
        case .migrateFolioMove, .migrateFolioDone, .moveToNewFolio:
            return folio == nil ? "src' or 'folio" : nil
        case .tryToFreeMemCgroupPages, .chargeMemcg, .memCgroupMigrate, .memCgroupUncharge,
            .memCgroupUnchargeFolios, .memCgroupReplaceFolio:
            return nil
        default:
            return folio == nil && page == nil ? "folio' or 'page" : nil
        }
    }
}

/// A kprobe record's arguments, read from the record when asked for.
///
/// A view, not a copy: it points at the record's payload and at the probe's layout in the
/// `EventDecoder`, so it is valid as long as the record it was decoded from (until the
/// stream advances) and costs nothing to pass around. Every accessor is nil when the probe
/// did not fetch that argument.
public struct KprobeView {
    let args: UnsafePointer<KprobeArgs>
    let payload: UnsafeRawBufferPointer

    init(args: UnsafePointer<KprobeArgs>, payload: UnsafeRawBufferPointer) {
        self.args = args
        self.payload = payload
    }

    private var a: KprobeArgs { args.pointee }

    public var folio: UInt64? { a.folio.unsigned(payload) }
    public var page: UInt64? { a.page.unsigned(payload) }
    public var nr: Int64? { a.nr.signed(payload) }
    public var vma: UInt64? { a.vma.unsigned(payload) }
    public var address: UInt64? { a.address.unsigned(payload) }
    public var flags: UInt64? { a.flags.unsigned(payload) }
    public var compound: Bool? { a.compound.unsigned(payload).map { $0 != 0 } }

    /// The struct page/folio fields at function entry. `mapcount` is `_mapcount`: -1 means no
    /// PTE maps the page (a PMD-mapped THP head is -1 too: see `compoundMapcount`).
    public var mapcount: Int32? { a.mapcount.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    public var refcount: Int32? { a.refcount.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    public var pageFlags: UInt64? { a.pageFlags.unsigned(payload) }
    public var mapping: UInt64? { a.mapping.unsigned(payload) }
    public var index: UInt64? { a.index.unsigned(payload) }
    /// 6.1 `compound_mapcount` (PMD mappings of a THP, from -1): meaningful only when
    /// `compound` is true.
    public var compoundMapcount: Int32? { a.compoundMapcount.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    /// 6.8+ folio `_large_mapcount` and `_entire_mapcount` (from -1).
    public var largeMapcount: Int32? { a.largeMapcount.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    public var entireMapcount: Int32? { a.entireMapcount.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    /// The flags of a large folio's second page (`_flags_1`), whose low byte is the order.
    public var flags1: UInt64? { a.flags1.unsigned(payload) }
    /// The folio order, from the low byte of `flags1` (meaningful for large folios only: an
    /// order-0 folio has no second page and the byte belongs to the next struct page).
    public var folioOrder: UInt8? { flags1.map { UInt8(truncatingIfNeeded: $0) } }

    /// PG_mlocked at entry, where the capture fetched that bit by itself (its number comes
    /// from the kernel's `enum pageflags`, which the trace does not carry).
    public var mlocked: Bool? { a.mlocked.unsigned(payload).map { $0 != 0 } }

    /// `ptep_clear_flush_young(vma, address, ptep)`: the PTE at entry, its young
    /// (`_PAGE_ACCESSED`) bit as the capture fetched it, the memcg (cgroup id) of the task
    /// owning the VMA's mm (`mm->owner`, what 5.10's `mm_match_cgroup()` asks) and its pid.
    public var pte: UInt64? { a.pte.unsigned(payload) }
    public var young: Bool? { a.young.unsigned(payload).map { $0 != 0 } }
    public var vmaMemcgID: UInt64? { a.vmaMemcgID.unsigned(payload).flatMap { $0 == 0 ? nil : $0 } }
    /// The VMA owner's memcg by name or path, where the probe fetched a string instead of an id.
    public var vmaMemcgName: String? {
        guard let slot = a.vmaMemcgName, slot.end <= payload.count else { return nil }
        let s = slot.string(payload)
        return s.isEmpty ? nil : s
    }
    public var ownerPid: Int32? { a.ownerPid.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    /// The VMA owner's memcg as a `struct mem_cgroup *`, where the probe fetched a pointer
    /// (`vma_memcg`, or plain `memcg` on ptep_clear_flush_young, which has no memcg of its
    /// own): an id only once another probe pairs that pointer with one (`LifecycleEngine`).
    public var vmaMemcg: UInt64? { (a.vmaMemcg ?? a.memcg).unsigned(payload).flatMap { $0 == 0 ? nil : $0 } }

    /// The memcg pointers, and their cgroup ids (`css.cgroup->kn->id`, the cgroup
    /// directory's inode number) where the probe fetched them.
    public var from: UInt64? { a.from.unsigned(payload) }
    public var to: UInt64? { a.to.unsigned(payload) }
    public var memcg: UInt64? { a.memcg.unsigned(payload) }
    public var fromMemcgID: UInt64? { a.fromID.unsigned(payload) }
    public var toMemcgID: UInt64? { a.toID.unsigned(payload) }
    public var memcgID: UInt64? { a.memcgID.unsigned(payload) }
}

/// A call of an rmap function seen by a kprobe.
public struct RmapCall {
    public enum Action: String, Sendable {
        case addAnon = "add_anon"
        case addNewAnon = "add_new_anon"
        case addFile = "add_file"
        case remove
    }

    public var function: KprobeFunction
    /// The arguments and page fields the probe fetched.
    public var arguments: KprobeView

    public var action: Action { function.rmapAction ?? .remove }
}

/// A call of one of the reclaim and migration functions that are neither rmap, charge nor
/// mlock (`ptep_clear_flush_young`, `try_to_free_mem_cgroup_pages`, `migrate_folio_move`,
/// `migrate_folio_done`) seen by a kprobe.
public struct ProbeCall {
    public var function: KprobeFunction
    public var arguments: KprobeView
}

/// A call of an mlock function seen by a kprobe (`mlock_folio(folio)` and friends).
public struct MlockCall {
    public var function: KprobeFunction
    /// The folio (or page) and the fields the probe fetched.
    public var arguments: KprobeView
}

/// A call of a memcg charge function seen by a kprobe (`mem_cgroup_move_account(page,
/// compound, from, to)` on 6.1; `charge_memcg`, `mem_cgroup_migrate`, uncharge).
public struct ChargeCall {
    public var function: KprobeFunction
    /// The arguments and page fields the probe fetched.
    public var arguments: KprobeView
}
