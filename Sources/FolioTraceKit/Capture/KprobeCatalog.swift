import CTraceFS

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kprobes for the running kernel (rmap, memcg charge, mlock, reclaim's young-bit check,
/// migration: every `KprobeFunction`), named after their functions as the decoder expects
/// and built from what the kernel itself says: a function is probed only when /proc/kallsyms
/// has it out of line, its arguments are its BTF prototype's parameters in order, in the
/// machine's argument registers (x86-64: %di %si %dx %cx %r8 %r9; arm64: %x0..%x7), and the
/// struct fields fetched beside them (a folio's or page's
/// _mapcount, _refcount, flags, mapping, index, PG_mlocked; a memcg's cgroup id through
/// css.cgroup->kn->id; a VMA owner's memcg and pid) sit at the BTF's offsets. So 6.1's page_*
/// functions, 6.8+'s folio_* ones and mem_cgroup_move_account (up to 6.12) each get probes
/// where they exist, without a per-version table to keep up.
public struct KprobeCatalog {
    public struct Probe: Sendable {
        public var function: String
        /// The fetch arguments, as in kprobe_events after the symbol.
        public var arguments: String
    }

    public private(set) var probes: [Probe] = []
    /// Functions not probed, with why.
    public private(set) var skipped: [String] = []

    /// The kprobe fetch names of the registers that carry a function's first integer
    /// arguments, per machine (`uname -m`); nil for a machine foliotrace does not know.
    /// x86-64: the System V calling convention's six (%di %si %dx %cx %r8 %r9); arm64: AAPCS64's
    /// eight, x0..x7 (arch/arm64/include/asm/ptrace.h: NR_REG_ARGUMENTS 8, what
    /// `regs_get_kernel_argument()` reads for `$argN`).
    public static func registers(machine: String) -> [String]? {
        switch machine {
        case "x86_64": return ["%di", "%si", "%dx", "%cx", "%r8", "%r9"]
        case "aarch64", "arm64": return (0..<8).map { "%x\($0)" }
        default: return nil
        }
    }

    /// The bit of a present PTE that says it was accessed (what ptep_clear_flush_young tests
    /// and clears): x86 `_PAGE_BIT_ACCESSED` 5, arm64 `PTE_AF` 10 (pgtable-hwdef.h).
    static func accessedBit(machine: String) -> Int? {
        switch machine {
        case "x86_64": return 5
        case "aarch64", "arm64": return 10
        default: return nil
        }
    }

    /// `uname -m` of the running machine.
    public static var runningMachine: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Probes for the functions of `kallsyms` with a BTF prototype.
    /// - Parameters:
    ///   - btf: the kernel's BTF (/sys/kernel/btf/vmlinux).
    ///   - kallsyms: /proc/kallsyms' text.
    ///   - machine: `uname -m`; it decides the argument registers. On a machine without known
    ///     registers no function is probed, and each is listed in `skipped` with why.
    public init(btf: BTF, kallsyms: String, machine: String = KprobeCatalog.runningMachine) {
        guard let registers = Self.registers(machine: machine) else {
            skipped = KprobeFunction.allCases.map {
                "\($0.rawValue): no kprobe argument registers known for \(machine)"
            }
            return
        }
        var symbols = Set<Substring>()
        for line in kallsyms.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3)
            if parts.count >= 3, parts[1] == "T" || parts[1] == "t" { symbols.insert(parts[2]) }
        }
        for f in KprobeFunction.allCases {
            guard symbols.contains(Substring(f.rawValue)) else {
                skipped.append("\(f.rawValue): not an out-of-line function in this kernel")
                continue
            }
            // the move as migrate_folio_move() makes it (6.3+, where migrate_pages_batch()
            // calls it), probed only where that is inlined and migrate_folio_done() is not
            // (Debian's arm64 6.12): one of the two marks the move, for freed-while-isolated
            if f == .moveToNewFolio,
                symbols.contains(Substring(KprobeFunction.migrateFolioMove.rawValue))
                    || !symbols.contains(Substring(KprobeFunction.migrateFolioDone.rawValue))
                    || !symbols.contains("migrate_pages_batch")
            {
                skipped.append(
                    "\(f.rawValue): probed only where migrate_folio_move is inlined into migrate_pages_batch"
                )
                continue
            }
            guard let params = btf.parameters(of: f.rawValue), !params.isEmpty else {
                skipped.append("\(f.rawValue): no BTF prototype")
                continue
            }
            var args: [String] = []
            for (name, reg) in zip(params, registers) {
                let type: String
                switch name {
                case "nr_pages", "nr", "reason": type = "s32"
                case "flags": type = "x32"
                case "compound": type = "u8"
                default: type = "x64"
                }
                // migrate_folio_move(..., src, dst, ...) and migrate_folio_done(src, reason):
                // the source folio, under the name the decoder reads.
                args.append("\(name == "src" ? "folio" : name)=\(reg):\(type)")
                if ["from", "to", "memcg"].contains(name), let id = Self.cgroupID(btf, of: reg) {
                    args.append("\(name)_cgid=\(id):u64")
                }
            }
            if let i = params.firstIndex(where: { ["folio", "page", "src"].contains($0) }), i < registers.count {
                let type = params[i] == "page" ? "page" : "folio"
                args += Self.fields(btf, of: type, at: registers[i])
                if f.isMlock, let bit = btf.enumerator("PG_mlocked"), let flags = btf.offset(of: "flags", in: type) {
                    args.append("mlocked=+\(flags)(\(registers[i])):b1@\(bit)/64")
                }
            }
            if f == .ptepClearFlushYoung, params.count == 3, let accessed = Self.accessedBit(machine: machine) {
                args += Self.youngCheck(btf, vma: registers[0], ptep: registers[2], accessedBit: accessed)
            }
            probes.append(Probe(function: f.rawValue, arguments: args.joined(separator: " ")))
        }
    }

    /// Fetches of the folio's (or page's) fields at function entry, through `register`.
    static func fields(_ btf: BTF, of type: String, at register: String = "%di") -> [String] {
        var out: [String] = []
        let wanted: [(String, String, String)] = [
            ("mapcount", "_mapcount", "s32"), ("refcount", "_refcount", "s32"), ("pflags", "flags", "x64"),
            ("mapping", "mapping", "x64"), ("index", "index", "u64"), ("flags1", "_flags_1", "x64"),
            ("large_mapcount", "_large_mapcount", "s32"), ("entire_mapcount", "_entire_mapcount", "s32"),
        ]
        for (name, member, kind) in wanted {
            if let off = btf.offset(of: member, in: type) { out.append("\(name)=+\(off)(\(register)):\(kind)") }
        }
        // Before folios (6.1): a compound page's mapcount of PMD mappings is in its first
        // tail page, one struct page further.
        if type == "page", let size = btf.size(ofStruct: "page"),
            let off = btf.offset(of: "compound_mapcount", in: "page")
        {
            out.append("cmapcount=+\(size + off)(\(register)):s32")
        }
        return out
    }

    /// What `ptep_clear_flush_young(vma, address, ptep)` needs to tell a foreign reference:
    /// the PTE and its young bit at entry (`accessedBit`: x86 `_PAGE_BIT_ACCESSED` = 5, what
    /// the function returns before clearing it), and the memcg and pid of the task owning the
    /// VMA's mm (`vma->vm_mm->owner`, what `mm_match_cgroup()` asks: its css_set's memory css).
    static func youngCheck(_ btf: BTF, vma: String, ptep: String, accessedBit: Int = 5) -> [String] {
        var out = ["pte=+0(\(ptep)):x64", "young=+0(\(ptep)):b1@\(accessedBit)/64"]
        guard let vmMM = btf.offset(of: "vm_mm", in: "vm_area_struct"),
            let owner = btf.offset(of: "owner", in: "mm_struct"),
            let pid = btf.offset(of: "pid", in: "task_struct")
        else { return out }
        let task = "+\(owner)(+\(vmMM)(\(vma)))"
        out.append("owner_pid=+\(pid)(\(task)):s32")
        guard let cgroups = btf.offset(of: "cgroups", in: "task_struct"),
            let subsys = btf.offset(of: "subsys", in: "css_set"),
            let memory = btf.enumerator("memory_cgrp_id"),
            let cgroup = btf.offset(of: "cgroup", in: "cgroup_subsys_state"),
            let kn = btf.offset(of: "kn", in: "cgroup"),
            let id = btf.offset(of: "id", in: "kernfs_node")
        else { return out }
        let css = "+\(subsys + 8 * Int(memory))(+\(cgroups)(\(task)))"
        out.append("vma_cgid=+\(id)(+\(kn)(+\(cgroup)(\(css)))):u64")
        return out
    }

    /// memcg->css.cgroup->kn->id: the cgroup id (= its directory's inode) of a memcg argument.
    static func cgroupID(_ btf: BTF, of register: String) -> String? {
        guard let css = btf.offset(of: "css", in: "mem_cgroup"),
            let cgroup = btf.offset(of: "cgroup", in: "cgroup_subsys_state"),
            let kn = btf.offset(of: "kn", in: "cgroup"),
            let id = btf.offset(of: "id", in: "kernfs_node")
        else { return nil }
        return "+\(id)(+\(kn)(+\(css + cgroup)(\(register))))"
    }
}

/// Kprobe events defined for one capture, in group `foliotrace_<pid>`; removed again by
/// `remove()`, and by the next capture if this process dies first.
public final class CaptureKprobes {
    public let group: String
    public private(set) var defined: [String] = []
    public private(set) var failed: [String] = []
    private var events: [OpaquePointer] = []

    static let prefix = "foliotrace_"

    /// Whether this kernel has kprobe events at all.
    public static func available(tracing: String) -> Bool {
        FileManager.default.fileExists(atPath: tracing + "/kprobe_events")
    }

    public init(catalog: KprobeCatalog) {
        group = Self.prefix + String(getpid())
        Self.removeStale()
        for p in catalog.probes {
            guard let e = tracefs_kprobe_alloc(group, p.function, p.function, p.arguments) else {
                failed.append(p.function)
                continue
            }
            if tracefs_dynevent_create(e) == 0 {
                events.append(e)
                defined.append(p.function)
            } else {
                failed.append(p.function)
                tracefs_dynevent_free(e)
            }
        }
    }

    deinit { remove() }

    /// Removes our probes (disabling them first, as the kernel requires). A trigger someone
    /// put on one (a hist trigger, say) makes the kernel refuse the removal, so triggers go
    /// first.
    public func remove() {
        if let tracing = tracefs_tracing_dir().map({ String(cString: $0) }) {
            for function in defined {
                let file = "\(tracing)/events/\(group)/\(function)/trigger"
                let text = String(decoding: readWhole(file), as: UTF8.self)
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    let trigger = line.split(separator: " ").first.map(String.init) ?? ""
                    guard !trigger.isEmpty, let fd = Optional(open(file, O_WRONLY | O_APPEND)), fd >= 0 else {
                        continue
                    }
                    _ = ("!" + trigger).withCString { Glibc.write(fd, $0, strlen($0)) }
                    close(fd)
                }
            }
        }
        for e in events {
            tracefs_dynevent_destroy(e, true)
            tracefs_dynevent_free(e)
        }
        events = []
    }

    /// Removes kprobes of a `foliotrace_<pid>` group whose process is gone.
    static func removeStale() {
        guard let tracing = tracefs_tracing_dir().map({ String(cString: $0) }) else { return }
        let text = String(decoding: readWhole(tracing + "/kprobe_events"), as: UTF8.self)
        var stale = Set<String>()
        for line in text.split(separator: "\n") {
            // "p:foliotrace_123/page_remove_rmap page_remove_rmap ..."
            guard let colon = line.firstIndex(of: ":"), let slash = line.firstIndex(of: "/") else { continue }
            let group = String(line[line.index(after: colon)..<slash])
            guard group.hasPrefix(prefix), let pid = Int32(group.dropFirst(prefix.count)), pid != getpid() else {
                continue
            }
            if kill(pid, 0) != 0, errno == ESRCH { stale.insert(group) }
        }
        for group in stale {
            guard let list = tracefs_dynevent_get_all(UInt32(TRACEFS_DYNEVENT_KPROBE.rawValue), group) else { continue }
            var i = 0
            while let e = list[i] {
                tracefs_dynevent_destroy(e, true)
                i += 1
            }
            tracefs_dynevent_list_free(list)
        }
    }
}

extension CaptureKprobes {
    /// Defines the catalog's kprobes this kernel has, from its BTF and kallsyms; nil when it
    /// has no kprobe events or no BTF. What was defined, refused or why none were is said
    /// through `notes`, one line each, with what it means for the capture.
    public static func forRunningKernel(
        tracing: String = "/sys/kernel/tracing",
        notes: (String) -> Void
    ) -> CaptureKprobes? {
        guard available(tracing: tracing) else {
            notes("this kernel has no kprobe events: recording without kprobes")
            return nil
        }
        let btf: BTF
        do {
            btf = try BTF()
        } catch {
            notes("\(error): recording without kprobes")
            return nil
        }
        let kallsyms = String(decoding: readWhole("/proc/kallsyms"), as: UTF8.self)
        let probes = CaptureKprobes(catalog: KprobeCatalog(btf: btf, kallsyms: kallsyms))
        notes("kprobes in group \(probes.group): \(probes.defined.joined(separator: ", "))")
        if !probes.failed.isEmpty { notes("kprobes the kernel refused: \(probes.failed.joined(separator: ", "))") }
        return probes
    }
}
