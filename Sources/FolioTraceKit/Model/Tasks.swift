/// Tasks and cgroups as the trace names them.
///
/// pid -> comm comes from the trace's saved_cmdlines and from cgroup_attach_task; pid ->
/// cgroup from cgroup_attach_task; cgroup id -> path from cgroup_mkdir/rmdir and attach.
/// A cgroup id is `cgroup_id()`, the inode number of the cgroup's directory, which is also
/// the `memcg_id` of the memcg tracepoints (6.13+) on 64-bit kernels.
public struct TaskTable: Sendable {
    public private(set) var comms: [Int32: String]
    /// The cgroups each task was attached to in the trace, in order, with when.
    public private(set) var cgroupHistory: [Int32: [(id: UInt64, since: UInt64)]] = [:]
    /// Known cgroup paths by id.
    public private(set) var cgroupPaths: [UInt64: String] = [:]
    private var kswapd: Set<Int32> { didSet { kswapdRange = (kswapd.min() ?? 1, kswapd.max() ?? 0) } }
    /// The lowest and highest of `kswapd`'s pids: kernel threads started at boot, so a range
    /// that a task's pid is nearly always outside, which `isKswapd` checks before hashing the
    /// pid (asked of every free and page-cache delete).
    private var kswapdRange: (low: Int32, high: Int32) = (1, 0)

    public init(savedCommands: [Int32: String]) {
        comms = savedCommands
        kswapd = Set(savedCommands.filter { $0.value.hasPrefix("kswapd") }.keys)
        kswapdRange = (kswapd.min() ?? 1, kswapd.max() ?? 0)
    }

    mutating func attach(pid: Int32, cgroup: UInt64, path: String, comm: String, at ts: UInt64) {
        cgroupHistory[pid, default: []].append((cgroup, ts))
        cgroupPaths[cgroup] = path
        if comms[pid] == nil, !comm.isEmpty { comms[pid] = comm }
    }

    mutating func name(cgroup: UInt64, path: String) { cgroupPaths[cgroup] = path }

    mutating func learn(_ commands: [Int32: String]) {
        comms.merge(commands) { _, new in new }
        for (pid, comm) in commands where comm.hasPrefix("kswapd") { kswapd.insert(pid) }
    }

    /// The cgroup a task was last attached to in the trace, if any.
    public func cgroup(of pid: Int32) -> UInt64? { cgroupHistory[pid]?.last?.id }

    /// The cgroup a task was in at `time`, as far as the trace says.
    public func cgroup(of pid: Int32, at time: UInt64) -> UInt64? {
        cgroupHistory[pid]?.last { $0.since <= time }?.id
    }

    /// The cgroup a probe names by path ("/A/B") or by its directory's name ("B"): the one
    /// known cgroup with that path or last component; nil when none or several match.
    func cgroup(named name: String) -> UInt64? {
        if name.hasPrefix("/"), let exact = cgroupPaths.first(where: { $0.value == name }) { return exact.key }
        let matches = cgroupPaths.filter { $0.value.split(separator: "/").last.map(String.init) == name }
        return matches.count == 1 ? matches.first?.key : nil
    }

    public func comm(_ pid: Int32) -> String { comms[pid] ?? (pid == 0 ? "<idle>" : "<...>") }

    func isKswapd(_ pid: Int32) -> Bool {
        pid >= kswapdRange.low && pid <= kswapdRange.high && kswapd.contains(pid)
    }
}
