import FolioTraceKit
import Foundation
import Testing

/// The kprobe catalog against the running kernel: its BTF offsets must be what pahole (a
/// separate BTF reader, from Debian's dwarves) prints for the same structs.
@Suite struct KprobeCatalogTests {
    static let vmlinux = "/sys/kernel/btf/vmlinux"

    /// member -> offset from `pahole -C name`, nested anonymous members included (pahole
    /// prints their offsets from the start of the outer struct).
    static func pahole(_ name: String) throws -> [String: Int]? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/pahole") else { return nil }
        let r = try CommandLineTests.execute("/usr/bin/pahole", ["-C", name, vmlinux])
        var out: [String: Int] = [:]
        for m in r.stdout.matches(of: /([A-Za-z_][A-Za-z0-9_]*)(\[[0-9]*\])?;\s*\/\*\s*([0-9]+)\s+[0-9]+\s*\*\//) {
            let member = String(m.1)
            if out[member] == nil { out[member] = Int(m.3) }
        }
        return out
    }

    /// Why this kernel's BTF cannot be read, or nil.
    static var noBTF: String? {
        FileManager.default.fileExists(atPath: vmlinux) ? nil : "this kernel has no BTF at \(vmlinux)"
    }

    @Test(
        Prerequisite.condition(noBTF),
        Prerequisite.executable("/usr/bin/pahole", package: "dwarves")
    )
    func btfOffsetsMatchPahole() throws {
        let btf = try BTF()
        let wanted: [String: [String]] = [
            "folio": ["flags", "mapping", "index", "_mapcount", "_refcount", "_flags_1", "_large_mapcount"],
            "page": ["flags", "mapping", "index", "_mapcount", "_refcount"],
            "mem_cgroup": ["css"], "cgroup_subsys_state": ["cgroup"], "cgroup": ["kn"], "kernfs_node": ["id"],
        ]
        for (name, members) in wanted {
            let theirs = try #require(try Self.pahole(name), "pahole printed nothing for \(name)")
            for member in members where theirs[member] != nil {
                #expect(btf.offset(of: member, in: name) == theirs[member], "\(name).\(member)")
            }
            #expect(members.contains { theirs[$0] != nil }, "pahole printed no member of \(name)")
        }
    }

    /// Every function of the catalog that this kernel has out of line gets a probe whose
    /// arguments are its BTF parameters in register order, plus the folio fields at pahole's
    /// offsets; the others are listed as skipped with the reason.
    @Test(
        Prerequisite.condition(noBTF),
        Prerequisite.executable("/usr/bin/pahole", package: "dwarves")
    )
    func catalogForTheRunningKernel() throws {
        let folio = try #require(try Self.pahole("folio"), "pahole printed nothing for folio")
        let kallsyms = String(decoding: readWhole("/proc/kallsyms"), as: UTF8.self)
        let catalog = KprobeCatalog(btf: try BTF(), kallsyms: kallsyms)
        #expect(catalog.probes.count + catalog.skipped.count == KprobeFunction.allCases.count)
        for p in catalog.probes where p.arguments.hasPrefix("folio=") {
            #expect(p.arguments.contains("mapcount=+\(folio["_mapcount"]!)(%di):s32"), "\(p.function): \(p.arguments)")
            #expect(p.arguments.contains("refcount=+\(folio["_refcount"]!)(%di):s32"))
        }
        for p in catalog.probes {
            #expect(kallsyms.contains(" \(p.function)\n"), "\(p.function) is in kallsyms")
        }
        // The source folio of migrate_folio_done(src, reason), under the decoder's name.
        if let p = catalog.probes.first(where: { $0.function == "migrate_folio_done" }) {
            #expect(p.arguments.hasPrefix("folio=%di:x64 reason=%si:s32"), "\(p.arguments)")
            #expect(p.arguments.contains("refcount=+\(folio["_refcount"]!)(%di):s32"))
        }
        // PG_mlocked's bit number comes from the kernel's enum pageflags.
        if let p = catalog.probes.first(where: { $0.function == "mlock_folio" }) {
            let flags = try #require(
                try CommandLineTests.execute("/usr/bin/pahole", ["-C", "pageflags", Self.vmlinux])
                    .stdout.firstMatch(of: /PG_mlocked\s*=\s*([0-9]+)/)?.1
            )
            #expect(p.arguments.contains("mlocked=+\(folio["flags"]!)(%di):b1@\(flags)/64"), "\(p.arguments)")
        }
        // The young-bit check's VMA owner: vma->vm_mm->owner, at pahole's offsets.
        if let p = catalog.probes.first(where: { $0.function == "ptep_clear_flush_young" }) {
            let vma = try #require(try Self.pahole("vm_area_struct")?["vm_mm"])
            let owner = try #require(try Self.pahole("mm_struct")?["owner"])
            let pid = try #require(try Self.pahole("task_struct")?["pid"])
            #expect(p.arguments.contains("pte=+0(%dx):x64 young=+0(%dx):b1@5/64"), "\(p.arguments)")
            #expect(p.arguments.contains("owner_pid=+\(pid)(+\(owner)(+\(vma)(%di))):s32"), "\(p.arguments)")
            #expect(p.arguments.contains("vma_cgid="), "\(p.arguments)")
        }
    }
}

/// The catalog for Debian's arm64 kernels, built on this x86-64 host from what those kernels
/// carry: the BTF inside the arm64 `Image` of the package that guest-compat.sh arm64 / arm64-6.12
/// boots (the .BTF data /sys/kernel/btf/vmlinux serves in the guest) and the kallsyms that
/// trace-cmd wrote into the arm64 fixtures (memory-management symbols of the booted kernel).
@Suite struct Arm64KprobeCatalogTests {
    static let cache = ProcessInfo.processInfo.environment["FOLIOTRACE_CACHE"] ?? "/var/cache/foliotrace-capture"

    /// The BTF blob of a raw arm64 Image: `struct btf_header` (magic 0xeB9F, version 1, flags
    /// 0, hdr_len 24, then type_off, type_len, str_off, str_len) and the data it describes.
    static func btf(inImage path: String) -> Data? {
        guard let image = FileManager.default.contents(atPath: path) else { return nil }
        let magic = Data([0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00])
        guard let r = image.range(of: magic) else { return nil }
        let u32 = { (at: Int) in
            image[r.lowerBound + at..<r.lowerBound + at + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        let end = 24 + max(u32(8) + u32(12), u32(16) + u32(20))
        return image[r.lowerBound..<r.lowerBound + end]
    }

    @Test(arguments: [
        ("6.1.0-57-arm64", "linux-6.1-arm64/pagecache-memcg-compaction.dat"),
        ("6.12.117+deb12-arm64", "linux-6.12-arm64/pagecache-memcg-compaction.dat"),
    ])
    func catalogForDebiansArm64Kernel(_ release: String, _ fixture: String) throws {
        let images = (try? FileManager.default.contentsOfDirectory(atPath: Self.cache + "/extract")) ?? []
        guard let dir = images.first(where: { $0.hasPrefix("linux-image-\(release)-unsigned_") }),
            let blob = Self.btf(inImage: "\(Self.cache)/extract/\(dir)/boot/vmlinuz-\(release)"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/pahole")
        else {
            print("skipped: needs pahole and \(release)'s package unpacked in \(Self.cache) (guest-compat.sh arm64)")
            return
        }
        let path = try Fixtures.scratch("arm64-btf").appendingPathComponent("vmlinux.btf")
        defer { try? FileManager.default.removeItem(at: path.deletingLastPathComponent()) }
        try blob.write(to: path)
        let btf = try BTF(path: path.path)
        let file = try TraceFile(path: Fixtures.path(fixture))
        let kallsyms = withExtendedLifetime(file) { String(decoding: file.kallsyms, as: UTF8.self) }
        let catalog = KprobeCatalog(btf: btf, kallsyms: kallsyms, machine: "aarch64")
        #expect(catalog.probes.count + catalog.skipped.count == KprobeFunction.allCases.count)
        #expect(!catalog.probes.isEmpty, "\(catalog.skipped)")
        let pahole = try CommandLineTests.execute("/usr/bin/pahole", ["-F", "btf", "-C", "folio", path.path]).stdout
        let mapcount = try #require(pahole.firstMatch(of: /_mapcount;\s*\/\*\s*([0-9]+)/)?.1)
        for p in catalog.probes {
            // Arguments in AAPCS64's registers, in the BTF prototype's order; never x86's.
            let params = try #require(btf.parameters(of: p.function))
            let first = params[0] == "src" ? "folio" : params[0]
            #expect(p.arguments.hasPrefix("\(first)=%x0:"), "\(p.function): \(p.arguments)")
            #expect(!p.arguments.contains("%di") && !p.arguments.contains("%si"), "\(p.arguments)")
            if p.arguments.hasPrefix("folio=") {
                #expect(p.arguments.contains("mapcount=+\(mapcount)(%x0):s32"), "\(p.function): \(p.arguments)")
            }
        }
        // 6.1 has the page-based rmap functions, 6.12 the folio ones.
        let names = Set(catalog.probes.map(\.function))
        #expect(names.contains(release.hasPrefix("6.1.") ? "page_remove_rmap" : "folio_remove_rmap_ptes"), "\(names)")
        // Both arm64 builds inline migrate_folio_move() into migrate_pages_batch() (Debian's
        // 6.1.192 has the 6.3 batching too): the move is probed at move_to_new_folio(dst, src,
        // mode), which it calls, with the folio fields at src (%x1)
        let move = catalog.probes.first { $0.function == "move_to_new_folio" }
        #expect(move?.arguments.hasPrefix("dst=%x0:x64 folio=%x1:x64 ") == true, "\(catalog.skipped)")
        #expect(!names.contains("migrate_folio_move"))
    }

    /// The probes the catalog defines for Debian's arm64 6.1 kernel, given to that kernel in a
    /// qemu-system-aarch64 guest (guest-compat.sh arm64-probes, the compat workload with mapped
    /// pages and compaction): the kernel accepts every definition, the trace holds as many of
    /// each probe's events as kprobe_profile counted hits, and foliotrace decodes every one.
    /// (foliotrace itself does not run in the guest: this machine has no Swift SDK for
    /// aarch64.) Needs root, qemu-system-aarch64, aarch64-linux-gnu-gcc and the kernel package
    /// in the cache; skips with a message elsewhere.
    @Test func catalogProbesWorkInAnArm64Guest() throws {
        let release = "6.1.0-57-arm64"
        let images = (try? FileManager.default.contentsOfDirectory(atPath: Self.cache + "/extract")) ?? []
        guard geteuid() == 0,
            ["/usr/bin/qemu-system-aarch64", "/usr/bin/aarch64-linux-gnu-gcc"].allSatisfy(
                FileManager.default.isExecutableFile(atPath:)
            ),
            let dir = images.first(where: { $0.hasPrefix("linux-image-\(release)-unsigned_") }),
            let blob = Self.btf(inImage: "\(Self.cache)/extract/\(dir)/boot/vmlinuz-\(release)")
        else {
            print(
                "skipped catalogProbesWorkInAnArm64Guest: needs root, qemu-system-arm, gcc-aarch64-linux-gnu and \(release) in \(Self.cache)"
            )
            return
        }
        let out = try Fixtures.scratch("arm64-probes")
        defer { try? FileManager.default.removeItem(at: out) }
        try blob.write(to: out.appendingPathComponent("vmlinux.btf"))
        let btf = try BTF(path: out.appendingPathComponent("vmlinux.btf").path)
        // The kallsyms text points into the file's mapping: copied while the file is alive.
        let captured = try TraceFile(path: Fixtures.path("linux-6.1-arm64/pagecache-memcg-compaction.dat"))
        let kallsyms = withExtendedLifetime(captured) { String(decoding: captured.kallsyms, as: UTF8.self) }
        let catalog = KprobeCatalog(btf: btf, kallsyms: kallsyms, machine: "aarch64")
        let definitions = catalog.probes.map { "p:foliotrace/\($0.function) \($0.function) \($0.arguments)" }
        let file = out.appendingPathComponent("kprobes.txt")
        try (definitions.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)

        let script = Fixtures.packageRoot.appendingPathComponent("fixtures/capture/guest-compat.sh").path
        var env = ProcessInfo.processInfo.environment
        env["FOLIOTRACE_KPROBES"] = file.path
        env["FOLIOTRACE_OUT"] = out.path
        let run = try Subprocess.run("/bin/bash", [script, "arm64-probes"], environment: env, timeout: 1800)
        try #require(run.status == 0, "guest-compat.sh arm64-probes failed:\n\((run.stdout + run.stderr).suffix(2000))")
        let truth = try String(contentsOf: out.appendingPathComponent("record-probes.truth.txt"), encoding: .utf8)
            .split(separator: "\n")
        for d in definitions {
            #expect(truth.contains { $0 == "kprobe: \(d)" }, "the arm64 kernel refused \(d)")
        }
        var hits: [String: Int] = [:]
        for p in catalog.probes {
            let line = try #require(truth.first { $0.hasPrefix(p.function + " ") && $0.contains(" hits ") })
            hits[p.function] = Int(Truth.number(after: "hits", in: line) ?? 0)
        }
        #expect(hits.values.reduce(0, +) > 0, "\(hits)")

        let path = out.appendingPathComponent("record-probes.dat").path
        let fixture = try TraceFile(path: path)
        let decoded = try EventCatalog(file: fixture)
        let decoder = try EventDecoder(catalog: decoded, path: path)
        #expect(decoder.unmodelled.filter { $0.event.hasPrefix("foliotrace:") }.isEmpty, "\(decoder.unmodelled)")
        var counts: [UInt16: Int] = [:]
        var total = 0
        var merged = try fixture.mergedRecords()
        while let r = try merged.next() {
            counts[r.eventID, default: 0] += 1
            total += 1
        }
        // Nothing was lost: the kernel's ring buffers held every event the file has and
        // dropped none (per-CPU stats right after tracing_on=0, before the extract).
        var entries = 0
        for (i, line) in truth.enumerated() where line.hasPrefix("-- ring buffer stats cpu") {
            let stats = truth[(i + 1)...].prefix { !$0.hasPrefix("--") }
            entries += Int(stats.first { $0.hasPrefix("entries:") }.flatMap { Truth.numbers($0).first } ?? 0)
            #expect(stats.contains("overrun: 0") && stats.contains("dropped events: 0"), "\(line): \(stats)")
        }
        #expect(entries == total)
        // kprobe_profile counts hits from its snapshot before tracing_on=1 to the one after
        // tracing_on=0, and a kprobe fires whether tracing is on or not: background tasks (a
        // kworker's uncharge) hit probes in between, where nothing is recorded, and how many
        // depends on how slowly TCG runs the guest's shell between the snapshot and the switch
        // (18 of 1634 in one CI run, 1.1%). So the file can hold fewer events than hits, never
        // more; losses are checked exactly above, by the ring buffer's own counts. Here: every
        // probe records, and at least half its hits (or all but two) fall inside the window.
        for p in catalog.probes {
            let id = try #require(decoded.type(named: "foliotrace:\(p.function)")?.id)
            let (count, hit) = (counts[id, default: 0], hits[p.function] ?? 0)
            #expect(count <= hit && hit - count <= max(2, hit / 2), "\(p.function): \(count) in the file, \(hit) hits")
        }
    }

    /// A machine without known argument registers gets no probe, each one named with why.
    @Test func unknownMachineGetsNoProbes() throws {
        #expect(KprobeCatalog.registers(machine: "riscv64") == nil)
        #expect(KprobeCatalog.registers(machine: "aarch64") == (0..<8).map { "%x\($0)" })
        #expect(KprobeCatalog.registers(machine: "x86_64")?.first == "%di")
    }
}
