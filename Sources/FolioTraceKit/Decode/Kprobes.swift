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

    /// Whether this function maps or unmaps (as opposed to charging).
    public var isRmap: Bool { rmapAction != nil }

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

/// A call of an rmap function seen by a kprobe, with its arguments by name.
///
/// Argument names follow the kernel's parameter names (`folio`, `page`, `nr`/`nr_pages`,
/// `vma`, `address`/`addr`, `flags`, `compound`); an argument the probe did not fetch is nil.
public struct RmapCall: Equatable, Sendable {
    public enum Action: String, Sendable {
        case addAnon = "add_anon"
        case addNewAnon = "add_new_anon"
        case addFile = "add_file"
        case remove
    }

    public var function: KprobeFunction
    public var folio: UInt64?
    public var page: UInt64?
    public var nr: Int64?
    public var vma: UInt64?
    public var address: UInt64?
    public var flags: UInt64?
    public var compound: Bool?
    /// The page's struct fields at entry, when the probe fetched them (`+OFF(%di)`).
    public var pageFields: PageFields

    public var action: Action { function.rmapAction ?? .remove }
}

/// Fields of the `struct page` a probe's first argument points at, read at function entry:
/// `mapcount` (`_mapcount`, -1 = no PTE maps it), `refcount`, `flags`, `mapping`, `index`,
/// and `compoundMapcount` of a compound page. Each is nil when the probe did not fetch it.
public struct PageFields: Equatable, Sendable {
    public var mapcount: Int64?
    public var refcount: Int64?
    public var flags: UInt64?
    public var mapping: UInt64?
    public var index: UInt64?
    public var compoundMapcount: Int64?

    public init(
        mapcount: Int64? = nil,
        refcount: Int64? = nil,
        flags: UInt64? = nil,
        mapping: UInt64? = nil,
        index: UInt64? = nil,
        compoundMapcount: Int64? = nil
    ) {
        self.mapcount = mapcount
        self.refcount = refcount
        self.flags = flags
        self.mapping = mapping
        self.index = index
        self.compoundMapcount = compoundMapcount
    }
}

/// A call of a memcg charge function seen by a kprobe (`mem_cgroup_move_account(page,
/// compound, from, to)` on 6.1; `charge_memcg`, `mem_cgroup_migrate`, uncharge).
public struct ChargeCall: Equatable, Sendable {
    public var function: KprobeFunction
    public var page: UInt64?
    public var folio: UInt64?
    /// The memcg pointers.
    public var from: UInt64?
    public var to: UInt64?
    public var memcg: UInt64?
    /// The memcgs' cgroup ids (`css.cgroup->kn->id`, the cgroup directory's inode number),
    /// when the probe fetched them (`from_cgid`, `to_cgid`, `memcg_cgid`).
    public var fromMemcgID: UInt64?
    public var toMemcgID: UInt64?
    public var memcgID: UInt64?
    public var compound: Bool?
    public var nr: Int64?
    /// The page's struct fields at entry (`mapcount` -1 means not mapped).
    public var pageFields: PageFields

    /// `page->_mapcount` as fetched by the probe: -1 means not mapped.
    public var mapcount: Int64? { pageFields.mapcount }
}
