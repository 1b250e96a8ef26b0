/// What a page-table entry holds, whatever the architecture that wrote it.
public enum PTEEntry: Equatable, Sendable {
    /// A present (or PROT_NONE) entry mapping `pfn`.
    case present(pfn: UInt64)
    /// A non-present swap-format entry: `type` and `offset`, whose low bits are the pfn
    /// for migration entries.
    case swap(type: UInt8, offset: UInt64)
    /// An empty entry.
    case none
}

/// Decoding of x86-64 page-table entries as the migrate tracepoints print them.
///
/// `migrate:set_migration_pte` records the migration entry that `try_to_migrate_one`
/// installed (a swap-format entry holding the OLD pfn); `migrate:remove_migration_pte`
/// records the present PTE that `remove_migration_pte` set (the NEW pfn, or the old one again
/// after a failed migration). Encodings from arch/x86/include/asm/pgtable_64.h and
/// pgtable-invert.h (L1TF inversion), valid for x86-64 kernels since 4.19.
public enum X86PTE {
    /// `_PAGE_PRESENT`.
    static let present: UInt64 = 1 << 0
    /// `_PAGE_PROTNONE` (the global bit reused for PROT_NONE entries).
    static let protNone: UInt64 = 1 << 8
    /// `PTE_PFN_MASK` with 52 physical address bits.
    static let pfnMask: UInt64 = 0x000f_ffff_ffff_f000
    /// `SWP_PFN_BITS` = MAX_PHYSMEM_BITS - PAGE_SHIFT with 4-level paging (46 - 12). With 5-level
    /// paging the field is wider; pfns above 2^34 (64 TiB) would then be cut.
    static let swapPFNBits: UInt64 = 34

    /// What an entry holds.
    public typealias Entry = PTEEntry

    /// Decodes a PTE value.
    public static func decode(_ pte: UInt64) -> Entry {
        if pte == 0 { return .none }
        if pte & present != 0 { return .present(pfn: (pte & pfnMask) >> 12) }
        if pte & protNone != 0 { return .present(pfn: (~pte & pfnMask) >> 12) }
        // __swp_type: the top 5 bits; __swp_offset: (~val << SWP_TYPE_BITS) >> SWP_OFFSET_SHIFT.
        return .swap(type: UInt8(pte >> 59), offset: (~pte << 5) >> 14)
    }

    /// The pfn an entry refers to: the mapped page of a present entry, or the page a
    /// migration entry stands for. Nil for empty entries.
    public static func pfn(_ pte: UInt64) -> UInt64? {
        switch decode(pte) {
        case .present(let pfn): return pfn
        case .swap(_, let offset): return offset & ((1 << swapPFNBits) - 1)
        case .none: return nil
        }
    }
}

/// Decoding of arm64 page-table entries (4K, 16K and 64K pages) as the migrate tracepoints
/// print them.
///
/// Encodings from arch/arm64/include/asm/pgtable.h, pgtable-hwdef.h and pgtable-prot.h,
/// read in Debian's 6.1.192 and 6.12.117 headers:
/// - Present: `pte_present()` is PTE_VALID (bit 0) or, for a PROT_NONE entry, PTE_PROT_NONE
///   (bit 58) up to 6.9; PTE_PRESENT_INVALID (= PTE_NG, bit 11, only when !PTE_VALID) since
///   6.10 ("arm64/mm: Remove PTE_PROT_NONE bit" and "Move PTE_PRESENT_INVALID to overlay
///   PTE_NG", Ryan Roberts, in "arm64 updates for 6.10"). Unlike x86-64 nothing is inverted.
///   `__pte_to_phys()`: the output address is bits PAGE_SHIFT..47 (`PTE_ADDR_LOW`); with
///   52-bit physical addresses the bits 48..51 sit elsewhere (64K pages: PTE bits 12..15;
///   6.12's LPA2 with 4K/16K pages: PTE bits 8..9 for 50..51, the shareability bits
///   otherwise). Only bits PAGE_SHIFT..47 are read, which is exact for memory below 256 TiB
///   on every configuration.
/// - Swap: `__swp_offset()` is `(val >> __SWP_OFFSET_SHIFT) & (2^50 - 1)`; the offset starts
///   at bit 8 up to 6.9 (type at bits 2..7, or 3..7 since 5.19 with PG_anon_exclusive at
///   bit 2) and at bit 12 since 6.10 (type at bits 6..10, uffd-wp at bit 3). A migration
///   entry's offset holds the pfn in its low `SWP_PFN_BITS` = MAX_PHYSMEM_BITS - PAGE_SHIFT
///   bits, then the young and dirty bits (include/linux/swapops.h, SWP_MIG_YOUNG_BIT /
///   SWP_MIG_DIRTY_BIT, set where `migration_entry_supports_ad()`, i.e. the CPU updates the
///   access flag). MAX_PHYSMEM_BITS is CONFIG_ARM64_PA_BITS: 48 in Debian's 6.1, 52 in its
///   6.12 (LPA2). Reading 48 - PAGE_SHIFT bits is exact for both below 256 TiB; reading more
///   would take the young bit of a 48-bit kernel for a pfn bit.
public struct Arm64PTE: Equatable, Sendable {
    /// PAGE_SHIFT: 12, 14 or 16.
    public let pageShift: UInt64
    /// `__SWP_OFFSET_SHIFT`: 8 up to 6.9, 12 since 6.10.
    public let swapOffsetShift: UInt64
    /// `__SWP_TYPE_SHIFT`: 3 in 6.1 (2 before PG_anon_exclusive took bit 2, in 5.19 by our
    /// reading, unverified against a tag), 6 since 6.10.
    public let swapTypeShift: UInt64
    /// The bit that marks a present but invalid (PROT_NONE) entry: PTE_PROT_NONE (58) up to
    /// 6.9, PTE_PRESENT_INVALID (11) since 6.10.
    public let presentInvalidBit: UInt64

    /// The layout of a kernel with this page size and release.
    /// - Parameters:
    ///   - pageSize: the kernel's page size (a trace's header page size): 4096, 16384 or 65536.
    ///   - release: `uname -r` ("6.1.0-57-arm64"); the swap layout changed in 6.10.
    /// - Returns: nil for another page size or a release that does not start with a version.
    public init?(pageSize: Int, release: String?) {
        switch pageSize {
        case 4096: pageShift = 12
        case 16384: pageShift = 14
        case 65536: pageShift = 16
        default: return nil
        }
        guard let release, let version = KernelVersion(release) else { return nil }
        let since610 = version >= KernelVersion(major: 6, minor: 10)
        swapOffsetShift = since610 ? 12 : 8
        swapTypeShift = since610 ? 6 : (version >= KernelVersion(major: 5, minor: 19) ? 3 : 2)
        presentInvalidBit = since610 ? 11 : 58
    }

    /// `PTE_VALID`.
    static let valid: UInt64 = 1 << 0
    /// Output address bits PAGE_SHIFT..47 (`PTE_ADDR_LOW` of a 48-bit configuration).
    var addressMask: UInt64 { ((1 << 48) - 1) & ~((1 << pageShift) - 1) }
    /// The pfn bits of a migration entry's offset read here: 48 - PAGE_SHIFT.
    var swapPFNBits: UInt64 { 48 - pageShift }

    /// Decodes a PTE value.
    public func decode(_ pte: UInt64) -> PTEEntry {
        if pte == 0 { return .none }
        if pte & Self.valid != 0 || pte & (1 << presentInvalidBit) != 0 {
            return .present(pfn: (pte & addressMask) >> pageShift)
        }
        // __swp_type: 5 bits (MAX_SWAPFILES_SHIFT) from __SWP_TYPE_SHIFT; __swp_offset: 50 bits
        // from __SWP_OFFSET_SHIFT.
        return .swap(
            type: UInt8((pte >> swapTypeShift) & 0x1f),
            offset: (pte >> swapOffsetShift) & ((1 << 50) - 1)
        )
    }

    /// The pfn an entry refers to: the mapped page of a present entry, or the page a
    /// migration entry stands for. Nil for empty entries.
    public func pfn(_ pte: UInt64) -> UInt64? {
        switch decode(pte) {
        case .present(let pfn): return pfn
        case .swap(_, let offset): return offset & ((1 << swapPFNBits) - 1)
        case .none: return nil
        }
    }
}

/// The page-table layout of the traced kernel, chosen from what the file says about the
/// machine (trace.dat's uname option, perf.data's ARCH feature), its page size and release.
public enum PTELayout: Equatable, Sendable {
    case x86_64
    case arm64(Arm64PTE)

    /// The layout of the traced kernel, or why there is none.
    /// - Parameters:
    ///   - machine: `uname -m` ("x86_64", "aarch64").
    ///   - pageSize: the kernel's page size.
    ///   - release: `uname -r`, when the file says.
    /// - Returns: the layout, or a sentence saying why foliotrace does not know it.
    public static func of(machine: String?, pageSize: Int, release: String?) -> Result<PTELayout, Unknown> {
        switch machine {
        case "x86_64"?:
            return .success(.x86_64)
        case "aarch64"?, "arm64"?:
            if let a = Arm64PTE(pageSize: pageSize, release: release) { return .success(.arm64(a)) }
            if release.flatMap(KernelVersion.init) == nil {
                return .failure(
                    Unknown(
                        reason:
                            "arm64's migration entries changed layout in 6.10 and this trace names no kernel release"
                    )
                )
            }
            return .failure(Unknown(reason: "arm64 with \(pageSize)-byte pages is not a page size arm64 kernels use"))
        case let m?:
            return .failure(
                Unknown(reason: "migration entries are decoded for x86_64 and aarch64 (this trace is \(m))")
            )
        case nil:
            return .failure(
                Unknown(reason: "migration entries are decoded for x86_64 and aarch64 (this trace does not say)")
            )
        }
    }

    /// Why a trace's page-table layout is not known.
    public struct Unknown: Error, Equatable, Sendable {
        public let reason: String
    }

    /// Decodes a PTE value.
    public func decode(_ pte: UInt64) -> PTEEntry {
        switch self {
        case .x86_64: return X86PTE.decode(pte)
        case .arm64(let a): return a.decode(pte)
        }
    }

    /// Whether a present PTE has been accessed since its young bit was last cleared: x86's
    /// _PAGE_ACCESSED (bit 5, arch/x86/include/asm/pgtable_types.h), arm64's PTE_AF (bit 10,
    /// arch/arm64/include/asm/pgtable-hwdef.h). ptep_clear_flush_young() returns this bit of
    /// the PTE it was given, so a probe that fetched the PTE at entry knows its answer.
    public func isYoung(_ pte: UInt64) -> Bool {
        switch self {
        case .x86_64: return pte & (1 << 5) != 0
        case .arm64: return pte & (1 << 10) != 0
        }
    }

    /// The order of a PMD-mapped folio: a page table holds PAGE_SIZE / 8 entries, so a PMD
    /// maps 2^(PAGE_SHIFT - 3) pages (9 with 4K pages, 11 with 16K, 13 with 64K).
    public var pmdOrder: Int32 {
        switch self {
        case .x86_64: return 9
        case .arm64(let a): return Int32(a.pageShift) - 3
        }
    }

    /// The pfn an entry refers to (see `X86PTE.pfn(_:)`, `Arm64PTE.pfn(_:)`).
    public func pfn(_ pte: UInt64) -> UInt64? {
        switch self {
        case .x86_64: return X86PTE.pfn(pte)
        case .arm64(let a): return a.pfn(pte)
        }
    }
}

/// A kernel's major and minor version, from a release string ("6.1.0-57-arm64", "6.12.117+deb12").
public struct KernelVersion: Comparable, Sendable {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Reads the leading "MAJOR.MINOR" of `release`; nil when it does not start that way.
    public init?(_ release: String) {
        let parts = release.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1].prefix { $0.isNumber })
        else { return nil }
        self.init(major: major, minor: minor)
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }
}
