import FolioTraceKit
import Testing

/// Each rule on a real fixture where the kernel's own evidence says the pattern happened
/// (expected counts from that evidence), and on one where it did not.
@Suite struct DetectorTests {
    /// Debian 6.1 charge moving: the kernel's hist trigger on mem_cgroup_move_account counted
    /// the moves by (mapcount, compound); the compound one was PMD-mapped (the truth file's
    /// compound_mapcount). Unmapped moves are findings; mapped ones are counted. The same run
    /// on Debian's arm64 6.1 (arguments in %x0..%x3).
    @Test(arguments: ["linux-6.1/charge-move.dat", "linux-6.1-arm64/charge-move.dat"])
    func chargeMovesOfUnmappedPages(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let histogram = KprobeTests.kernelHistogram(truth.lines.joined(separator: "\n"))
        let unmapped = try #require(histogram["-1/0"])
        let total = histogram.values.reduce(0, +)
        let ids = try #require(truth.line("memcg A: path").map(Truth.numbers))
        let summary = try #require(truth.line("-- mem_cgroup_move_account in the trace:"))
        #expect(summary.contains("compound=1: 1 (      1 cmapcount=0 )"), "the one THP was PMD-mapped")

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let findings = analysis.findings.filter { $0.rule == RuleID.chargeMoveUnmapped }
        #expect(findings.count == unmapped)
        #expect(findings.allSatisfy { $0.memcg == ids[0] && $0.otherMemcg == ids[1] && $0.severity == .warning })
        #expect(findings.allSatisfy { $0.evidence.first?.event.hasSuffix(":mem_cgroup_move_account") == true })
        let mapped = analysis.ruleContext[RuleID.chargeMoveUnmapped]?.first { $0.0 == "mapped moves" }?.1
        #expect(mapped.map(Int.init) == total - unmapped)
        #expect(analysis.coverage.first { $0.rule.id == RuleID.chargeMoveUnmapped }?.runnable == true)
    }

    /// Host 6.18: A's memcg reclaim evicted the shared file that B maps; B refaulted it. The
    /// kernel counted B's refaults (memory.stat workingset_refault_file); every one is a
    /// finding, A -> B, on the shared file's inode.
    @Test func foreignRefaults() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let a = try #require(truth.line("memcg A:").map(Truth.numbers)?.last)
        let b = try #require(truth.line("memcg B:").map(Truth.numbers)?.last)
        let inode = try #require(truth.line("shared:").flatMap { Truth.number(after: "ino", in: $0) })
        let refaults = try #require(truth.memoryStat("-- B memory.stat after")["workingset_refault_file"])

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let findings = analysis.findings.filter { $0.rule == RuleID.foreignRefault }
        #expect(findings.reduce(UInt64(0)) { $0 + (1 << UInt64($1.folio.order)) } == refaults)
        #expect(findings.allSatisfy { $0.memcg == a && $0.otherMemcg == b && $0.folio.filePage?.inode == inode })
        #expect(
            findings.allSatisfy { f in
                f.evidence.count == 2 && f.evidence[0].event == "filemap:mm_filemap_delete_from_page_cache"
                    && f.evidence[1].event == "filemap:mm_filemap_add_to_page_cache"
                    && f.evidence[0].timestamp < f.evidence[1].timestamp
            }
        )
        // The charge-move rule cannot run here, and says why instead of finding nothing silently.
        let coverage = try #require(analysis.coverage.first { $0.rule.id == RuleID.chargeMoveUnmapped })
        #expect(!coverage.runnable && coverage.missing == ["kprobe:mem_cgroup_move_account"])
        #expect(!analysis.findings.contains { $0.rule == RuleID.chargeMoveUnmapped })
    }

    /// Debian 5.10.223: the seed-003 scenario on a 5.10 kernel that has the stable backport of
    /// "mm/rmap: always do TTU_IGNORE_ACCESS" (5.10.4): no foreign reference rescues anything
    /// (the kernel's own probes: ptep_clear_flush_young never ran, every try_to_unmap
    /// succeeded), so A's reclaim evicts the shared file and B refaults all of it. The
    /// kernel counted the refaults as major faults (/proc/vmstat pgmajfault; only B's toucher
    /// maps a file), and each is a finding A -> B on the shared inode.
    @Test func foreignRefaultsOnPatched510() throws {
        let fixture = "linux-5.10/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let a = try #require(truth.line("memcg A:").map(Truth.numbers)?.first)
        let b = try #require(truth.line("memcg B:").map(Truth.numbers)?.first)
        let inode = try #require(truth.line("shared:").flatMap { Truth.number(after: "ino", in: $0) })
        let vmstat = truth.memoryStat("-- /proc/vmstat delta, whole capture")
        let refaults = try #require(vmstat["pgmajfault"])
        #expect(vmstat["workingset_refault_file"] == refaults)
        #expect(truth.line("ptep_clear_flush_young ")?.contains("hits 0 ") == true)
        #expect(truth.lines.contains { $0.hasSuffix(" ret=1") } && !truth.lines.contains { $0.hasSuffix(" ret=0") })

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let findings = analysis.findings.filter { $0.rule == RuleID.foreignRefault }
        #expect(UInt64(findings.count) == refaults)
        #expect(findings.allSatisfy { $0.memcg == a && $0.otherMemcg == b && $0.folio.filePage?.inode == inode })
    }

    /// The same scenario (init-5.10.sh) on Debian's arm64 6.12, MGLRU off: A's memcg reclaim
    /// evicts the shared file B maps and B refaults all of it. The kernel's account: B's
    /// memory.stat workingset_refault_file, equal to the major faults (/proc/vmstat
    /// pgmajfault: only B's toucher maps a file). Each refault is a finding A -> B on the
    /// shared inode, and each memcg's page cache at the end and refaults are what memory.stat
    /// says (`file` less `shmem`, cgroup v2). foreign-reference-rescue cannot run: arm64's
    /// ptep_clear_flush_young() is inline (not in kallsyms, so the kernel refused the probe).
    @Test func foreignRefaultsOnArm64() throws {
        let fixture = "linux-6.12-arm64/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let a = try #require(truth.line("memcg A:").map(Truth.numbers)?.first)
        let b = try #require(truth.line("memcg B:").map(Truth.numbers)?.first)
        let inode = try #require(truth.line("shared:").flatMap { Truth.number(after: "ino", in: $0) })
        let refaults = try #require(
            truth.memoryStat("-- B memory.stat after", exact: true)["workingset_refault_file"]
        )
        #expect(refaults > 0 && truth.memoryStat("-- /proc/vmstat delta, whole capture")["pgmajfault"] == refaults)
        #expect(truth.lines.contains { $0.hasPrefix("kprobe FAILED: p:foliotrace/ptep_clear_flush_young ") })

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let findings = analysis.findings.filter { $0.rule == RuleID.foreignRefault }
        #expect(findings.reduce(UInt64(0)) { $0 + (1 << UInt64($1.folio.order)) } == refaults)
        #expect(findings.allSatisfy { $0.memcg == a && $0.otherMemcg == b && $0.folio.filePage?.inode == inode })
        for (name, id) in [("A", a), ("B", b)] {
            let stat = truth.memoryStat("-- \(name) memory.stat after", exact: true)
            let m = try #require(analysis.report.memcgs.first { $0.id == id }, "memcg \(name)")
            let file = try #require(stat["file"]) - (stat["shmem"] ?? 0)
            #expect(m.pageCachePagesAtEnd == file / 4096, "\(name): page cache at end")
            #expect(m.pagesRefaulted == stat["workingset_refault_file"], "\(name): refaults")
        }
        let rescue = analysis.coverage.first { $0.rule.id == RuleID.foreignReferenceRescue }
        #expect(rescue?.runnable == false && rescue?.missing.contains("kprobe:ptep_clear_flush_young") == true)
    }

    /// foreign-reference-rescue on 5.10.223 built with the 5.10.4 backport of "mm/rmap: always
    /// do TTU_IGNORE_ACCESS" reverted (the pre-5.11 try_to_unmap_one()). The kernel's own
    /// account of each rescue: a ptep_clear_flush_young() call whose return address is in
    /// try_to_unmap_one, on a young PTE of a VMA owned by a task of B (the host check counts
    /// them from the probe's fields); as many try_to_unmap() calls returned false and
    /// shrink_page_list() counted as many unmap failures and file activations; B refaulted
    /// nothing. Every rescue is a finding A -> B on the shared file.
    @Test func foreignReferenceRescues() throws {
        let fixture = "linux-5.10/foreign-reference-rescue.dat"
        let truth = try Truth(fixture)
        let a = try #require(truth.line("memcg A:").map(Truth.numbers)?.first)
        let b = try #require(truth.line("memcg B:").map(Truth.numbers)?.first)
        let inode = try #require(truth.line("shared:").flatMap { Truth.number(after: "ino", in: $0) })
        let rescues = try #require(
            truth.lines.first { $0.hasSuffix(" try_to_unmap_one young=1 vma_cgid=\(b)") }.map(Truth.numbers)?.first
        )
        let shrink = try #require(truth.line("nr_activate_anon "))
        #expect(Truth.number(after: "nr_unmap_fail", in: shrink) == rescues)
        #expect(Truth.number(after: "nr_activate_file", in: shrink) == rescues)
        #expect(truth.lines.contains { $0.hasSuffix(" ret=0") && Truth.numbers($0).first == rescues })
        #expect(truth.memoryStat("-- B memory.stat after")["workingset_refault_file"] == 0)

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let findings = analysis.findings.filter { $0.rule == RuleID.foreignReferenceRescue }
        #expect(UInt64(findings.count) == rescues)
        #expect(findings.allSatisfy { $0.memcg == a && $0.otherMemcg == b && $0.folio.filePage?.inode == inode })
        #expect(
            findings.allSatisfy { f in
                f.evidence.count == 2 && f.evidence[0].event == "vmscan:mm_vmscan_memcg_reclaim_begin"
                    && f.evidence[1].event.hasSuffix(":ptep_clear_flush_young")
            }
        )
        #expect(!analysis.findings.contains { $0.rule == RuleID.foreignRefault })
    }

    /// foreign-reference-rescue on Debian 5.10.223, which has the 5.10.4 backport of "mm/rmap:
    /// always do TTU_IGNORE_ACCESS": the capture probes ptep_clear_flush_young() with the
    /// PTE, its young bit and the VMA owner's memcg, so the rule can run; the kernel says no
    /// folio was rescued (the probe never fired in A's reclaim: page_referenced() skips B's VMA
    /// and try_to_unmap_one() no longer looks; every try_to_unmap succeeded, nr_unmap_fail 0),
    /// and the rule finds nothing.
    @Test func noForeignReferenceRescueOnPatched510() throws {
        let fixture = "linux-5.10/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        #expect(truth.line("ptep_clear_flush_young ")?.contains("hits 0 ") == true)
        #expect(
            truth.lines.contains {
                $0.hasPrefix("nr_activate_anon 0 nr_activate_file 0") && $0.contains(" nr_unmap_fail 0 ")
            }
        )
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let coverage = try #require(analysis.coverage.first { $0.rule.id == RuleID.foreignReferenceRescue })
        #expect(coverage.runnable, "missing \(coverage.missing)")
        #expect(analysis.report.summary.reclaim.memcgReclaimPasses > 0)
        #expect(!analysis.findings.contains { $0.rule == RuleID.foreignReferenceRescue })
        // Elsewhere the probe is absent, and the report says so.
        let other = try TraceAnalysis(path: Fixtures.path("linux-6.18/memcg-reclaim-foreign.dat"))
        let missing = other.coverage.first { $0.rule.id == RuleID.foreignReferenceRescue }?.missing
        #expect(missing == ["kprobe:ptep_clear_flush_young"])
    }

    /// Debian 6.1: VM_LOCKED mappings whose folios lost PG_mlocked (an mlock_count the
    /// kernel undercounted, then a munlock of a second mapping), then memcg reclaim. The
    /// kernel's own account: the workload's /proc/kpageflags shows the locked pages that are
    /// not mlocked before the pressure and none after; the mlock_folio probe's return address
    /// shows reclaim's rmap walk (folio_referenced_one, try_to_unmap_one) mlocking them, with
    /// PG_mlocked clear at entry. Every such call is a finding, in memcg M, order 0. The same
    /// run on Debian's arm64 6.1 (the return address from the link register, %x30).
    @Test(arguments: ["linux-6.1/mlock-restored.dat", "linux-6.1-arm64/mlock-restored.dat"])
    func mlockRestoredByReclaim(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let m = try #require(truth.line("memcg M:").map(Truth.numbers)?.first)
        let before = try #require(truth.line("mlockmiss pid").flatMap { Truth.number(after: "not_mlocked", in: $0) })
        let after = try #require(truth.line("after pressure:").flatMap { Truth.number(after: "not_mlocked", in: $0) })
        let restoredByRmapWalk = truth.lines.filter {
            $0.contains(" mlock_folio caller=folio_referenced_one mlocked=0 ")
                || $0.contains(" mlock_folio caller=try_to_unmap_one mlocked=0 ")
        }
        .compactMap { Truth.numbers($0).first }.reduce(0, +)
        #expect(before > 0 && after == 0)
        #expect(restoredByRmapWalk == before - after)

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.mlockRestoredByReclaim }?.runnable == true)
        let findings = analysis.findings.filter { $0.rule == RuleID.mlockRestoredByReclaim }
        #expect(UInt64(findings.count) == restoredByRmapWalk)
        #expect(findings.allSatisfy { $0.memcg == m && $0.folio.order == 0 && $0.severity == .info })
        #expect(
            findings.allSatisfy { f in
                f.evidence.count == 2 && f.evidence[0].event == "vmscan:mm_vmscan_memcg_reclaim_begin"
                    && f.evidence[1].event.hasSuffix(":mlock_folio")
            }
        )
        let large = analysis.ruleContext[RuleID.mlockRestoredByReclaim]?.first { $0.0 == "large folios" }?.1
        #expect(large == 0)
    }

    /// Debian 6.1, the same mappings, munlock and pressure with every mlock counted: the
    /// kernel's probes show no mlock_folio from reclaim, and the rule, which can run, finds
    /// nothing.
    /// Debian 6.12, seed 002 on a large folio: a THP whose mlock() raced its migration, so
    /// that the mlock walk skipped the PMD migration entry and the re-mapping ignored the VMA
    /// (VM_IO set), sits PMD-mapped in a VM_LOCKED VMA without PG_mlocked; memcg reclaim
    /// restores it from folio_referenced_one() (`!pvmw.pte`). The kernel's evidence: the THP's
    /// /proc/kpageflags (not mlocked before the pressure, mlocked after, same pfn), Mlocked in
    /// /proc/meminfo up by the THP's size, and the mlock_folio kprobe calls from reclaim's rmap
    /// walk with PG_mlocked clear and the order in `_flags_1`. The rule finds exactly those,
    /// each a large folio (warning) of memcg M. The same race on Debian's arm64 6.12.
    @Test(arguments: ["linux-6.12/thp-mlock-restored.dat", "linux-6.12-arm64/thp-mlock-restored.dat"])
    func mlockRestoredOnALargeFolio(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let m = try #require(truth.line("memcg M:").map(Truth.numbers)?.first)
        let race = try #require(
            truth.line("after 1 tries (missed mlock)") ?? truth.lines.first { $0.contains("(missed mlock)") }
        )
        let pressure = try #require(truth.line("after the pressure:"))
        func pfn(_ line: Substring) -> UInt64? {
            line.split(separator: " ").drop { $0 != "pfn" }.dropFirst().first.flatMap {
                UInt64($0.dropFirst(2), radix: 16)
            }
        }
        let thp = try #require(pfn(race))
        #expect(pfn(pressure) == thp && race.hasSuffix("mlocked 0, VMA locked") && pressure.hasSuffix("mlocked 1"))
        let restores = truth.lines.filter {
            $0.hasPrefix("mlock_folio ") && $0.contains(" mlocked=0 ")
                && ($0.hasSuffix("caller=folio_referenced_one") || $0.hasSuffix("caller=try_to_unmap_one"))
        }
        let orders = restores.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("flags1=0x") }.flatMap {
                UInt64($0.dropFirst(9), radix: 16)
            }
            .map { UInt8(truncatingIfNeeded: $0) }
        }
        #expect(!restores.isEmpty && orders == Array(repeating: 9, count: restores.count))
        let mlocked = truth.lines.filter { $0.hasPrefix("Mlocked ") }.compactMap { Truth.numbers($0).last }
        #expect(mlocked.count == 2 && mlocked[1] - mlocked[0] == UInt64(restores.count) * 2048, "kB: \(mlocked)")

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.mlockRestoredByReclaim }?.runnable == true)
        let findings = analysis.findings.filter { $0.rule == RuleID.mlockRestoredByReclaim }
        #expect(findings.count == restores.count)
        #expect(
            findings.allSatisfy {
                $0.folio.pfn == thp && $0.folio.order == 9 && $0.severity == .warning && $0.memcg == m
            }
        )
        let large = analysis.ruleContext[RuleID.mlockRestoredByReclaim]?.first { $0.0 == "large folios" }?.1
        #expect(large == UInt64(restores.count))
    }

    /// The same with the migration waited for before each mlock(): every try left the THP
    /// mlocked (the workload's own kpageflags count), reclaim ran and restored nothing.
    @Test(arguments: ["linux-6.12/thp-mlock-counted.dat", "linux-6.12-arm64/thp-mlock-counted.dat"])
    func noLargeFolioMlockRestoredWhenCounted(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let control = try #require(truth.line("control:").map(Truth.numbers))
        #expect(control.count == 2 && control[0] == 0 && control[1] > 0)
        #expect(truth.line("after the pressure:")?.hasSuffix("mlocked 1") == true)
        #expect(!truth.lines.contains { $0.hasPrefix("mlock_folio ") && $0.contains(" mlocked=0 ") })
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.mlockRestoredByReclaim }?.runnable == true)
        #expect(analysis.report.summary.reclaim.memcgReclaimPasses > 0)
        #expect(!analysis.findings.contains { $0.rule == RuleID.mlockRestoredByReclaim })
    }

    @Test(arguments: ["linux-6.1/mlock-counted.dat", "linux-6.1-arm64/mlock-counted.dat"])
    func noMlockRestoredWhenCounted(_ fixture: String) throws {
        let truth = try Truth(fixture)
        #expect(truth.line("mlockmiss pid").flatMap { Truth.number(after: "not_mlocked", in: $0) } == 0)
        #expect(
            !truth.lines.contains {
                $0.contains("caller=folio_referenced_one") || $0.contains("caller=try_to_unmap_one")
            }
        )
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.mlockRestoredByReclaim }?.runnable == true)
        #expect(analysis.report.summary.reclaim.memcgReclaimPasses > 0)
        #expect(!analysis.findings.contains { $0.rule == RuleID.mlockRestoredByReclaim })
    }

    /// Debian 6.12 on two NUMA nodes: migrate_pages(2) of a task's 64 MiB while the task
    /// munmaps it. The kernel's own account: migrate_folio_done() called from
    /// migrate_pages_batch (the inlined migrate_folio_unmap(), whose only call of it is the
    /// "freed from under us" path; its return address is the probe's) for the freed sources,
    /// from migrate_folio_move for the moved ones; mm_migrate_pages counted both as
    /// succeeded. Each freed source is a finding, in the migrating task. On Debian's arm64
    /// 6.12 (16 MiB, the owner unmapping 250 ms in) migrate_folio_move() is inlined as well, so
    /// the capture probes move_to_new_folio(), which it calls, and the rule reads that.
    @Test(arguments: ["linux-6.12/freed-while-isolated.dat", "linux-6.12-arm64/freed-while-isolated.dat"])
    func freedWhileIsolated(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let (freed, moved) = try Self.isolatedFrees(truth)
        let succeeded = try #require(
            truth.line("calls 1 ").flatMap { Truth.number(after: "nr_succeeded", in: $0) }
        )
        #expect(freed > 0 && moved > 0 && freed + moved == succeeded)
        // "migrate_pages(pid OWNER, node 0 -> 1) by pid MIGRATOR returned ..."
        let migrator = try #require(truth.line("migrate_pages(pid").flatMap { Truth.number(after: "pid", in: $0) })

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.freedWhileIsolated }?.runnable == true)
        let findings = analysis.findings.filter { $0.rule == RuleID.freedWhileIsolated }
        #expect(UInt64(findings.count) == freed)
        #expect(findings.allSatisfy { $0.folio.order == 0 && $0.folio.filePage == nil })
        #expect(
            findings.allSatisfy { f in
                f.evidence.count == 2 && f.evidence[0].event == "migrate:mm_migrate_pages_start"
                    && f.evidence[1].event.hasSuffix(":migrate_folio_done") && f.evidence[1].pid == Int32(migrator)
            }
        )
        #expect(analysis.report.summary.migration.succeeded == succeeded)
    }

    /// The kernel's count of the sources migrate_folio_done() freed from under the migration
    /// and of those it freed after moving them, from the probe's return address. Where
    /// migrate_folio_move() is out of line (x86-64), by caller: migrate_pages_batch (the
    /// inlined migrate_folio_unmap()'s "freed from under us" path) or migrate_folio_move.
    /// Where both are inlined into migrate_pages_batch (arm64), by call site: the host check
    /// splits the calls into moved (after a move_to_new_folio() of that source, in that task,
    /// that returned 0) and freed; each kind must come from one call site of its own, and the
    /// moved ones number the kernel's successful move_to_new_folio() returns.
    static func isolatedFrees(_ truth: Truth) throws -> (freed: UInt64, moved: UInt64) {
        func count(_ suffix: String) -> UInt64 {
            truth.lines.first { $0.hasSuffix(suffix) }.flatMap { Truth.numbers($0).first } ?? 0
        }
        let sites = truth.lines.filter { $0.contains(" freed caller=") || $0.contains(" moved caller=") }
        guard !sites.isEmpty else {
            return (count(" caller=migrate_pages_batch"), count(" caller=migrate_folio_move"))
        }
        let freed = sites.filter { $0.contains(" freed caller=") }
        let moved = sites.filter { $0.contains(" moved caller=") }
        #expect(freed.count <= 1 && moved.count == 1, "one call site each: \(sites)")
        let site = { (line: Substring) in line.split(separator: "=").last }
        #expect(freed.allSatisfy { site($0) != site(moved[0]) }, "\(sites)")
        let movedCount = try #require(Truth.numbers(moved[0]).first)
        #expect(movedCount == count(" ret=0"), "moved = move_to_new_folio() returning MIGRATEPAGE_SUCCESS")
        return (freed.first.flatMap { Truth.numbers($0).first } ?? 0, movedCount)
    }

    /// Debian 6.12, the same migration with the owner unmapping only afterwards: every source
    /// was moved (the kernel's probe: migrate_folio_done only from migrate_folio_move, or on
    /// arm64 only after a successful move_to_new_folio()), and the rule, which can run, finds
    /// nothing.
    @Test(arguments: ["linux-6.12/migrated-whole.dat", "linux-6.12-arm64/migrated-whole.dat"])
    func noFreedWhileIsolatedWhenOwnerWaits(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let (freed, moved) = try Self.isolatedFrees(truth)
        #expect(freed == 0 && moved > 0)
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.freedWhileIsolated }?.runnable == true)
        #expect(analysis.report.summary.migration.succeeded > 0)
        #expect(!analysis.findings.contains { $0.rule == RuleID.freedWhileIsolated })
    }

    /// The kernel's "BUG: Bad page state ... pfn:N" reports in a truth file's dmesg, each
    /// with the reason of the "page dumped because:" line after it.
    static func badPages(_ truth: Truth) -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        var pending: UInt64?
        for line in truth.lines {
            if line.contains("] BUG: Bad page state") {
                pending = line.split(separator: "pfn:").last.flatMap {
                    UInt64($0.trimmingCharacters(in: .whitespaces), radix: 16)
                }
            } else if let pfn = pending, let r = line.range(of: "page dumped because: ") {
                out[pfn] = String(line[r.upperBound...])
                pending = nil
            }
        }
        return out
    }

    /// Debian 6.12 (init_on_free=1, so the kernel checks every free) with a module that drops
    /// one page reference too many on each of 8 mapped anon pages of a task of memcg C, then
    /// on each of 6 page-cache folios of a ramfs file a task of C wrote and nothing maps. The
    /// kernel's own account: one "BUG: Bad page state ... pfn:N" per bad free, "nonzero
    /// mapcount" for a page freed while mapped, "non-NULL mapping" for a file folio freed
    /// while the page cache still held it. The rule finds exactly those pfns, in C: the mapped
    /// ones (error) with their mapping (an rmap kprobe) and the free as evidence, the
    /// page-cache ones (warning) with their add to the file's page cache and the free. The
    /// positional capture is the same run with the rmap kprobes written as a user writes them
    /// by hand, `%di %si %dx %cx` unnamed (arg1..arg4): read through the 6.12 prototypes. The
    /// arm64 captures are the same runs on Debian's arm64 6.12 (the module cross-compiled
    /// against its headers; positional: `%x0 %x1 %x2 %x3`).
    @Test(arguments: [
        "linux-6.12/extra-put.dat", "linux-6.12/extra-put-positional.dat", "linux-6.12-arm64/extra-put.dat",
        "linux-6.12-arm64/extra-put-positional.dat",
    ])
    func freedWhileMappedOrInThePageCache(_ fixture: String) throws {
        let truth = try Truth(fixture)
        let bad = Self.badPages(truth)
        let mapped = Set(bad.filter { $0.value == "nonzero mapcount" }.keys)
        let cached = Set(bad.filter { $0.value == "non-NULL mapping" }.keys)
        let counts = truth.lines.filter { $0.hasPrefix("-- bad page reports") }.compactMap { Truth.numbers($0).last }
        #expect(counts == [UInt64(mapped.count), UInt64(cached.count)] && !mapped.isEmpty && !cached.isEmpty)
        #expect(bad.count == mapped.count + cached.count, "no other reason: \(bad)")
        let memcgC = try #require(truth.line("memcg C:").flatMap { Truth.number(after: "(inode)", in: $0) })
        let ramfs = try #require(truth.line("ramfs file:").flatMap { Truth.number(after: "ino", in: $0) })

        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let coverage = try #require(analysis.coverage.first { $0.rule.id == RuleID.chargeLifecycleViolation })
        #expect(coverage.runnable && coverage.missing.isEmpty, "both parts run: \(coverage.missing)")
        let findings = analysis.findings.filter { $0.rule == RuleID.chargeLifecycleViolation }
        let whileMapped = findings.filter { $0.severity == .error }
        let inPageCache = findings.filter { $0.severity == .warning }
        #expect(Set(whileMapped.map(\.folio.pfn)) == mapped && whileMapped.count == mapped.count)
        #expect(Set(inPageCache.map(\.folio.pfn)) == cached && inPageCache.count == cached.count)
        #expect(findings.count == whileMapped.count + inPageCache.count)
        for f in findings {
            #expect(f.memcg == memcgC && f.evidence.count == 2 && f.evidence.last?.event == "kmem:mm_page_free")
        }
        #expect(whileMapped.allSatisfy { $0.evidence[0].event.hasPrefix("foliotrace:folio_add") })
        // Each says which unmap probes the verdict relied on: the capture's, by name.
        #expect(
            whileMapped.allSatisfy {
                $0.message.contains(
                    "every unmap path (foliotrace:folio_remove_rmap_pmd, foliotrace:folio_remove_rmap_ptes)"
                )
            }
        )
        #expect(
            inPageCache.allSatisfy {
                $0.evidence[0].event == "filemap:mm_filemap_add_to_page_cache" && $0.folio.filePage?.inode == ramfs
                    && $0.evidence[0].timestamp < $0.evidence[1].timestamp
            }
        )
    }

    /// The same run with the module dropping only the reference it took: the kernel reports
    /// no bad page, and the rule, which can run, finds nothing; nor on the other captures
    /// with rmap probes (charge moving on 6.1; reclaim, swap, THP and compaction on 6.12) or
    /// with the page-cache events (6.18 compaction, which migrates page-cache folios: the old
    /// ones are freed in the page cache's place by the migrating task).
    @Test(arguments: [
        "linux-6.12/extra-put-control.dat", "linux-6.1/charge-move.dat", "linux-6.12/folio-rmap-compaction.dat",
        "linux-6.18/compaction-mlock-anon.dat", "linux-6.1-arm64/charge-move.dat",
        "linux-6.12-arm64/extra-put-control.dat",
    ])
    func noFreeWhileMappedOnHealthyRuns(_ fixture: String) throws {
        let truth = try Truth(fixture)
        #expect(!truth.lines.contains { $0.contains("] BUG: Bad page state") })
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.chargeLifecycleViolation }?.runnable == true)
        #expect(!analysis.findings.contains { $0.rule == RuleID.chargeLifecycleViolation })
    }

    /// A rule with two ways to run says what the part it cannot run lacks: the 6.18 compaction
    /// capture has the page-cache and migration events but no rmap probes; the 6.18 reclaim
    /// capture saw no migrate_pages() either, so the rule cannot run at all there.
    @Test func ruleCheckedInPartSaysWhatItLacks() throws {
        let rmap = ["kprobe:<rmap map function>", "kprobe:<rmap unmap function>"]
        let compaction = try TraceAnalysis(path: Fixtures.path("linux-6.18/compaction-mlock-anon.dat"))
        let part = try #require(compaction.coverage.first { $0.rule.id == RuleID.chargeLifecycleViolation })
        #expect(part.runnable && part.missing == rmap)
        let text = TextReport(compaction, verdict: Verdict(compaction, failOn: nil)).rendered
        #expect(text.contains("checked in part: the trace lacks \(rmap.joined(separator: ", "))"))
        let reclaim = try TraceAnalysis(path: Fixtures.path("linux-6.18/memcg-reclaim-foreign.dat"))
        let none = try #require(reclaim.coverage.first { $0.rule.id == RuleID.chargeLifecycleViolation })
        #expect(!none.runnable && none.missing == rmap + ["migrate:mm_migrate_pages_start"])
        #expect(
            TextReport(reclaim, verdict: Verdict(reclaim, failOn: nil)).rendered.contains(
                "not checked: the trace lacks \(rmap.joined(separator: ", ")) for frees while mapped; "
                    + "migrate:mm_migrate_pages_start for frees in the page cache"
            )
        )
        // What record and tail say a kernel without the events disables.
        #expect(
            !AnalysisRequirement.disabled(byMissing: Set(AnalysisRequirement.rmapUnmapProbes)).contains(
                RuleID.chargeLifecycleViolation.rawValue
            )
        )
        #expect(
            AnalysisRequirement.disabled(
                byMissing: Set(AnalysisRequirement.rmapUnmapProbes + ["migrate:mm_migrate_pages_start"])
            )
            .contains(RuleID.chargeLifecycleViolation.rawValue)
        )
    }

    /// Debian 6.12 with one memcg under memory.max: reclaim and refaults happen, but within
    /// the same memcg, so the rule runs and finds nothing.
    @Test func noForeignRefaultWithinOneMemcg() throws {
        let analysis = try TraceAnalysis(path: Fixtures.path("linux-6.12/folio-rmap-compaction.dat"))
        #expect(analysis.coverage.first { $0.rule.id == RuleID.foreignRefault }?.runnable == true)
        #expect(analysis.report.summary.refaults > 0 && analysis.report.summary.evictions > 0)
        #expect(analysis.findings.isEmpty)
    }
}

extension DetectorTests {
    /// A trace cut mid-life yields no finding that the whole trace does not have: findings
    /// never come from the gap before the cut. (Findings are matched by their evidence.)
    @Test(arguments: [
        "linux-6.1/charge-move.dat", "linux-6.18/memcg-reclaim-foreign.dat", "linux-6.1/mlock-restored.dat",
        "linux-5.10/memcg-reclaim-foreign.dat", "linux-6.12/freed-while-isolated.dat",
        "linux-6.12-arm64/freed-while-isolated.dat", "linux-6.1-arm64/mlock-restored.dat",
        "linux-6.1-arm64/charge-move.dat", "linux-6.12-arm64/thp-mlock-restored.dat",
        "linux-5.10/foreign-reference-rescue.dat", "linux-6.12/extra-put.dat", "linux-6.12/thp-mlock-restored.dat",
    ])
    func cutTraceFindsNothingNew(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let whole = try TraceAnalysis(path: path)
        func key(_ f: Finding) -> String {
            f.rule.rawValue + f.evidence.map { "\($0.event)@\($0.cpu):\($0.timestamp)" }.joined()
        }
        let wholeKeys = Set(whole.findings.map(key))
        #expect(!wholeKeys.isEmpty)

        let fixtureData = try DecodedFixture(fixture)
        let (file, catalog, decoder, total) = (
            fixtureData.file, fixtureData.catalog, fixtureData.decoder, fixtureData.records
        )
        var merged: MergedStream
        for cut in [total / 4, total / 2, 3 * total / 4] {
            var engine = LifecycleEngine(catalog: catalog, savedCommands: file.savedCommands())
            var detectors = DetectorSet()
            var index = 0
            merged = try file.mergedRecords()
            while let r = try merged.next() {
                defer { index += 1 }
                guard index >= cut else { continue }
                engine.handle(r, decoder.decode(r))
                for t in engine.transitions { detectors.observe(t) }
            }
            let extra = detectors.findings.map(key).filter { !wholeKeys.contains($0) }
            #expect(extra.isEmpty, "cut at \(cut): \(extra.prefix(3))")
        }
    }
}
