import FolioTraceKit
import Testing

/// The captures of fixtures/capture/guest-compat.sh: one workload (page cache, memcg
/// reclaim, compaction) recorded by trace-cmd 2.9.1, on Ubuntu's 5.4 and 4.15 kernels, on a
/// 32-bit i686 kernel, on a big-endian s390x one and on arm64 (6.1 and 6.12). Whatever the
/// file's writer, kernel version, architecture, long size or byte order, the lifecycle agrees
/// with the kernel's own counters.
@Suite struct CompatGroundTruthTests {
    static let fixtures =
        [
            "trace-cmd-2.x/record-2.9.1.dat",
            "linux-5.4/pagecache-memcg-compaction.dat",
            "linux-4.15/pagecache-memcg-compaction.dat",
            "linux-6.1-i386/pagecache-memcg-compaction.dat",
            "linux-6.1-s390x/pagecache-memcg-compaction.dat",
        ] + Arm64GroundTruthTests.fixtures

    @Test(arguments: fixtures)
    func lifecycleAgreesWithTheKernel(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let a = try TraceAnalysis(path: Fixtures.path(fixture))
        let s = a.report.summary
        // Pages the memcg's reclaim took: vmstat's pgsteal_file in the reclaim phase where the
        // kernel counts memcg reclaim there (6.1), memory.stat's pgpgout where it does not
        // (5.4 and 4.15 leave pgscan/pgsteal at 0 for memcg reclaim).
        let phase2 = truth.memoryStat("-- /proc/vmstat delta, phase 2")
        let memcg = truth.memoryStat("-- memcg M memory.stat")
        let reclaimed = try #require(phase2["pgsteal_file"] ?? memcg["pgpgout"])
        #expect(s.reclaim.shrinkInactiveReclaimed == reclaimed)
        #expect(s.reclaim.memcgReclaimPasses > 0)
        #expect(s.evictions == reclaimed)
        // Migrations, when the capture enabled the migrate events.
        let migrateID = a.catalog.type(named: "migrate:mm_migrate_pages")?.id
        if migrateID != nil, s.migration.calls > 0 {
            let compaction = truth.memoryStat("-- /proc/vmstat delta, phase 3b")
            #expect(s.migration.succeeded == compaction["pgmigrate_success"])
        }
        #expect(a.memoryEvents > 0)
        #expect(a.damage.isEmpty)
    }

    /// Migration entries are another architecture's PTEs on i686: not decoded, and said so.
    @Test func otherArchitecturesDoNotJoinMigrations() throws {
        let a = try TraceAnalysis(path: Fixtures.path("linux-6.1-i386/pagecache-memcg-compaction.dat"))
        #expect(a.report.summary.migration.joined == 0)
        #expect(a.report.summary.migration.succeeded > 0)
        let pte = try #require(a.unmodelled.first { $0.event == "migrate:set_migration_pte" })
        #expect(pte.reason.contains("decoded for x86_64 and aarch64 (this trace is i686)"))
    }
}
