extension LostEvents {
    /// The events lost on all CPUs, saturating at UInt64.max: the counts are read from the
    /// file, and a damaged one (a mutated RB_MISSED count) must not trap the report.
    public static func total(_ lost: [LostEvents]) -> UInt64 {
        lost.reduce(0) { sum, l in
            let (s, overflow) = sum.addingReportingOverflow(l.counted)
            return overflow ? .max : s
        }
    }

    /// The pages with uncounted losses on all CPUs, saturating at Int.max.
    public static func totalUncountedPages(_ lost: [LostEvents]) -> Int {
        lost.reduce(0) { sum, l in
            let (s, overflow) = sum.addingReportingOverflow(l.uncountedPages)
            return overflow ? .max : s
        }
    }
}
