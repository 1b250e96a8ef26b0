/// The kernel's parameter lists of the functions foliotrace reads kprobes on, by version, so
/// that a probe whose arguments are plain registers can be read.
///
/// A user who writes `p:folio_remove_rmap_ptes folio_remove_rmap_ptes %di %si %dx` into
/// kprobe_events (or `%x0 %x1 %x2` on arm64) gets arguments the kernel names `arg1`, `arg2`,
/// `arg3` (trace_probe.c names an unnamed fetch "arg" and its 1-based position). What each one
/// is depends on the function's prototype in the traced kernel: `page_remove_rmap(page,
/// compound)` in 5.10 became `page_remove_rmap(page, vma, compound)` in 5.18. The table below
/// holds the prototypes from mm/rmap.c, mm/memcontrol.c (mm/memcontrol-v1.c from 6.11),
/// mm/migrate.c and mm/mlock.c; `argN` is read as the Nth parameter of the version the trace
/// names, and not at all where the trace does not name its kernel and the versions disagree.
/// A register holds the whole 64 bits; an `int` or `bool` parameter is only its low bits
/// (the ABI leaves the rest undefined), so those are read at their own width.
struct Prototype {
    /// A parameter's name as KprobeArgs knows it, and its width in bytes (0: a pointer or
    /// `long`, the register's full width).
    struct Parameter: Equatable {
        let name: String
        let bytes: Int
    }

    /// From this version on, until the next entry's.
    let since: KernelVersion
    let parameters: [Parameter]
}

private func p(_ names: String...) -> [Prototype.Parameter] {
    names.map { n in
        switch n {
        case "nr_pages", "flags", "reason", "mode": return .init(name: n, bytes: 4)
        case "compound": return .init(name: n, bytes: 1)
        default: return .init(name: n, bytes: 0)
        }
    }
}

private func v(_ major: Int, _ minor: Int) -> KernelVersion { KernelVersion(major: major, minor: minor) }

extension KprobeFunction {
    /// The prototypes of this function across the kernels that have it, oldest first.
    var prototypes: [Prototype] {
        switch self {
        // mm/rmap.c up to 6.7; the vma joined in 5.18 (the mlock rework), rmap_t flags
        // replaced page_add_anon_rmap's compound in 5.19 and page_add_new_anon_rmap's
        // compound went in 6.0.
        case .pageAddAnonRmap:
            return [
                .init(since: v(4, 0), parameters: p("page", "vma", "address", "compound")),
                .init(since: v(5, 19), parameters: p("page", "vma", "address", "flags")),
            ]
        case .pageAddNewAnonRmap:
            return [
                .init(since: v(4, 0), parameters: p("page", "vma", "address", "compound")),
                .init(since: v(6, 0), parameters: p("page", "vma", "address")),
            ]
        case .pageAddFileRmap:
            return [
                .init(since: v(4, 0), parameters: p("page", "compound")),
                .init(since: v(5, 18), parameters: p("page", "vma", "compound")),
            ]
        case .pageRemoveRmap:
            return [
                .init(since: v(4, 0), parameters: p("page", "compound")),
                .init(since: v(5, 18), parameters: p("page", "vma", "compound")),
            ]
        // mm/rmap.c from 6.8 (folio_add_new_anon_rmap from 6.5, with flags from 6.11)
        case .folioAddAnonRmapPtes:
            return [.init(since: v(6, 8), parameters: p("folio", "page", "nr_pages", "vma", "address", "flags"))]
        case .folioAddAnonRmapPmd:
            return [.init(since: v(6, 8), parameters: p("folio", "page", "vma", "address", "flags"))]
        case .folioAddNewAnonRmap:
            return [
                .init(since: v(6, 5), parameters: p("folio", "vma", "address")),
                .init(since: v(6, 11), parameters: p("folio", "vma", "address", "flags")),
            ]
        case .folioAddFileRmapPtes, .folioRemoveRmapPtes:
            return [.init(since: v(6, 8), parameters: p("folio", "page", "nr_pages", "vma"))]
        case .folioAddFileRmapPmd, .folioRemoveRmapPmd:
            return [.init(since: v(6, 8), parameters: p("folio", "page", "vma"))]
        case .folioAddAnonRmap:
            return [.init(since: v(6, 8), parameters: p("folio", "page", "nr_pages", "vma", "address", "flags"))]
        case .folioAddFileRmap, .folioRemoveRmap:
            return [.init(since: v(6, 8), parameters: p("folio", "page", "nr_pages", "vma"))]
        // mm/memcontrol.c: the page became a folio in 6.2
        case .memCgroupMoveAccount:
            return [
                .init(since: v(4, 0), parameters: p("page", "compound", "from", "to")),
                .init(since: v(6, 2), parameters: p("folio", "compound", "from", "to")),
            ]
        case .chargeMemcg:
            return [.init(since: v(5, 16), parameters: p("folio", "memcg"))]
        case .memCgroupUncharge:
            return [.init(since: v(5, 16), parameters: p("folio"))]
        case .memCgroupMigrate, .memCgroupReplaceFolio, .memCgroupUnchargeFolios:
            return []
        case .tryToFreeMemCgroupPages:
            return [.init(since: v(4, 0), parameters: p("memcg"))]
        case .ptepClearFlushYoung:
            // The PTE's value and the VMA's memcg need fetches through pointers: not positional.
            return []
        // mm/migrate.c from 6.3
        case .migrateFolioMove:
            return [.init(since: v(6, 3), parameters: p("put_new_folio", "private", "src", "dst", "mode", "reason"))]
        case .migrateFolioDone:
            return [.init(since: v(6, 3), parameters: p("src", "reason"))]
        // checked in the BTF of Debian's 6.1 and 6.12 (move_to_new_page(newpage, page, mode)
        // before the folio conversion)
        case .moveToNewFolio:
            return [.init(since: v(6, 1), parameters: p("dst", "src", "mode"))]
        // mm/mlock.c from 6.1 (the page versions until 6.2)
        case .mlockFolio, .mlockNewFolio, .munlockFolio:
            return [.init(since: v(6, 1), parameters: p("folio"))]
        case .mlockNewPage, .munlockPage:
            return [.init(since: v(6, 1), parameters: p("page"))]
        }
    }

    /// The parameter at each 0-based position for a kernel of `version`; for an unknown
    /// version, only the positions every prototype agrees on.
    func parameters(for version: KernelVersion?) -> [Prototype.Parameter?] {
        let all = prototypes
        if let version {
            guard let proto = all.last(where: { $0.since <= version }) ?? all.first else { return [] }
            return proto.parameters
        }
        guard let longest = all.map(\.parameters.count).max() else { return [] }
        return (0..<longest).map { i in
            let at = all.map { i < $0.parameters.count ? $0.parameters[i] : nil }
            return at.allSatisfy({ $0 == at[0] }) ? at[0] : nil
        }
    }
}

extension EventCatalog {
    /// The resolver of a kprobe event's arguments, by name and by position (`Prototype`).
    func kprobeResolver(_ type: EventType) -> FieldResolver {
        let version = kernelRelease.flatMap(KernelVersion.init)
        return FieldResolver(
            type,
            bigEndian: bigEndian,
            parameters: KprobeFunction(eventName: type.name)?.parameters(for: version) ?? []
        )
    }

    /// Whether a kprobe event fetched one of these arguments, named or by position.
    func kprobe(_ type: EventType, fetches names: String...) -> Bool {
        kprobeResolver(type).optional(names) != nil
    }
}
