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
    public enum Entry: Equatable, Sendable {
        /// A present (or PROT_NONE) entry mapping `pfn`.
        case present(pfn: UInt64)
        /// A non-present swap-format entry: `type` and `offset`, whose low bits are the pfn
        /// for migration entries.
        case swap(type: UInt8, offset: UInt64)
        /// An empty entry.
        case none
    }

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
