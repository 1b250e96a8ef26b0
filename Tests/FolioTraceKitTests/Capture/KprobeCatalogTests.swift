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
