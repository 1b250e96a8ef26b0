import FolioTraceKit
import Foundation
import Testing

/// `foliotrace record --probes auto` on Debian's real 6.1 kernel in a qemu guest (software
/// emulation), where kprobe events exist: foliotrace defines the rmap and charge probes from
/// the guest's BTF and kallsyms, records the charge-move scenario, and removes its probes.
/// The kernel's own counts (kprobe_profile, a hist trigger on our probe) come back with the
/// file. Needs root, qemu-system-x86, busybox-static and the kernel package (downloaded once
/// into /var/cache/foliotrace-capture); skipped with the reason elsewhere.
@Suite struct GuestRecordTests {
    static var unavailable: String? {
        if geteuid() != 0 { return "not root" }
        for tool in ["/usr/bin/qemu-system-x86_64", "/bin/busybox", "/usr/bin/cpio", "/usr/bin/gcc"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (apt-get install qemu-system-x86 busybox-static cpio gcc)"
        }
        return nil
    }

    /// CI runs as root with the packages `make test-deps` installs: there a missing one fails.
    @Test(.enabled(if: Prerequisite.inCI || unavailable == nil, Comment(rawValue: unavailable ?? "")))
    func recordDefinesAndRemovesProbesInA61Guest() throws {
        try #require(Self.unavailable == nil, "CI must run the guest test: \(Self.unavailable ?? "")")
        let out = try Fixtures.scratch("guest-record")
        defer { try? FileManager.default.removeItem(at: out) }
        let script = Fixtures.packageRoot.appendingPathComponent("fixtures/capture/guest.sh").path
        var env = ProcessInfo.processInfo.environment
        env["FOLIOTRACE_BIN"] = CommandLineTests.binary
        env["FOLIOTRACE_OUT"] = out.path
        env["FOLIOTRACE_QEMU_TIMEOUT"] = "900"
        // qemu gets 15 minutes (the run takes a few); the download and the initramfs come first.
        let run = try Subprocess.run("/bin/bash", [script, "6.1-record"], environment: env, timeout: 1800)
        let log = out.appendingPathComponent("guest.log")
        try (run.stdout + run.stderr).write(to: log, atomically: false, encoding: .utf8)
        let read = { (name: String) in
            (try? String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)) ?? ""
        }
        try #require(run.status == 0, "guest.sh failed:\n\(read("guest.log").suffix(2000))")

        let stderr = read("record-stderr.txt")
        #expect(stderr.contains("exit 0"), "record in the guest: \(stderr)")
        #expect(stderr.contains("kprobes in group foliotrace_"), "\(stderr)")
        #expect(!stderr.contains("kprobes the kernel refused"), "\(stderr)")
        // A run killed with SIGKILL left probes and an instance; the next run removed them, and
        // nothing is left in the guest's tracefs once it ended.
        let killed = read("killed.txt")
        #expect(
            killed.contains("probes") && !killed.contains(": 0 probes") && killed.contains("instance: foliotrace-"),
            "\(killed)"
        )
        #expect(read("after-kprobe_events.txt").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(read("after-instances.txt").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)

        // The file holds as many charge-move probe events as the kernel counted hits.
        let profile = read("kprobe_profile.txt").split(separator: "\n")
        let hits = try #require(
            profile.first { $0.contains("mem_cgroup_move_account") }.flatMap { line in
                line.split(separator: " ").compactMap { Int($0) }.first
            },
            "kprobe_profile: \(profile)"
        )
        #expect(hits > 0)
        let events = try CommandLineTests.run([
            "events", "--format", "json", out.appendingPathComponent("record.dat").path,
        ])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(events.stdout.utf8)) as? [String: Any])
        let counts = try #require(object["events"] as? [String: Int])
        let moves = counts.filter { $0.key.hasSuffix(":mem_cgroup_move_account") }.map(\.value).reduce(0, +)
        #expect(moves == hits, "events: \(counts)")

        // And the detector finds the unmapped moves the kernel's hist trigger counted.
        let histogram = KprobeTests.kernelHistogram(read("hist.txt"))
        let unmapped = try #require(histogram["-1/0"], "hist: \(read("hist.txt"))")
        let analysis = try TraceAnalysis(path: out.appendingPathComponent("record.dat").path)
        #expect(analysis.findings.filter { $0.rule == RuleID.chargeMoveUnmapped }.count == unmapped)
        // The rules that need a kprobe 6.1 has got it from the catalog.
        for c in analysis.coverage
        where [RuleID.mlockRestoredByReclaim, RuleID.foreignReferenceRescue].contains(c.rule.id) {
            #expect(!c.missing.contains { $0.hasPrefix("kprobe:") }, "\(c.rule.id): \(c.missing)")
        }
        try Self.youngChecksNameTheirOwner(out, scenario: read("scenario.txt"), profile: profile)
    }

    /// B's reclaim checked the young bits of the PTEs its toucher task maps: every
    /// ptep_clear_flush_young the kernel counted is in the file, and those in the toucher's
    /// VMAs name its pid and memcg B (the scenario's `$!` and B's directory inode): the owner
    /// and memcg fetches walk vma->vm_mm->owner->cgroups right.
    static func youngChecksNameTheirOwner(_ out: URL, scenario: String, profile: [Substring]) throws {
        let numbers = { (prefix: String) in
            scenario.split(separator: "\n").first { $0.hasPrefix(prefix) }
                .map { $0.split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) } } ?? []
        }
        let toucher = try #require(numbers("toucher pid").first, "scenario: \(scenario)")
        let memcgB = try #require(numbers("memcg A:").last, "scenario: \(scenario)")
        let hits = try #require(
            profile.first { $0.contains("ptep_clear_flush_young") }.flatMap { line in
                line.split(separator: " ").compactMap { Int($0) }.first
            },
            "kprobe_profile: \(profile)"
        )
        let path = out.appendingPathComponent("record.dat").path
        let file = try TraceFile(path: path)
        let decoder = try EventDecoder(catalog: try EventCatalog(file: file), path: path)
        var merged = try file.mergedRecords()
        var checks = 0
        var owned: [UInt64: Int] = [:]
        while let r = try merged.next() {
            guard case .probe(let c) = decoder.decode(r), c.function == .ptepClearFlushYoung else { continue }
            checks += 1
            #expect(c.arguments.pte != nil && c.arguments.young != nil)
            if c.arguments.ownerPid.map({ UInt64($0) }) == toucher {
                owned[c.arguments.vmaMemcgID ?? 0, default: 0] += 1
            }
        }
        #expect(checks == hits, "ptep_clear_flush_young: \(checks) in the file, \(hits) counted by the kernel")
        #expect(owned.keys.sorted() == [memcgB] && owned[memcgB, default: 0] > 0, "toucher's checks by memcg: \(owned)")
    }
}
