import Foundation

/// cgroup id -> path for the memory controller's cgroups that exist now.
///
/// A cgroup's id (`cgroup_id()`, what the memcg tracepoints and `cgroup_attach_task` carry)
/// is the inode number of its directory in cgroupfs (kernfs), so a walk of the hierarchy
/// names every memcg, including those created before the capture, which no cgroup_mkdir
/// event names. Paths are relative to the hierarchy's root, as the cgroup events print them.
enum CgroupPaths {
    static func scan() -> [UInt64: String] {
        let v1 = "/sys/fs/cgroup/memory"
        let root = FileManager.default.fileExists(atPath: v1 + "/memory.stat") ? v1 : "/sys/fs/cgroup"
        var paths: [UInt64: String] = [:]
        var pending = [""]
        while let relative = pending.popLast(), paths.count < 100_000 {
            let dir = root + relative
            var info = stat()
            guard stat(dir, &info) == 0 else { continue }
            paths[UInt64(info.st_ino)] = relative.isEmpty ? "/" : relative
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                var child = stat()
                if lstat(dir + "/" + name, &child) == 0, child.st_mode & S_IFMT == S_IFDIR {
                    pending.append(relative + "/" + name)
                }
            }
        }
        return paths
    }
}
