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

/// cgroup id -> path for the memory controller's cgroups that exist now.
///
/// A cgroup's id (`cgroup_id()`, what the memcg tracepoints and `cgroup_attach_task` carry)
/// is the inode number of its directory in cgroupfs (kernfs), so a walk of the hierarchy
/// names every memcg, including those created before the capture, which no cgroup_mkdir
/// event names. Paths are relative to the hierarchy's root, as the cgroup events print them.
public enum CgroupPaths {
    /// The memory controller's hierarchy: cgroup v1's memory mount where there is one, else
    /// the v2 root.
    static var root: String {
        let v1 = "/sys/fs/cgroup/memory"
        return FileManager.default.fileExists(atPath: v1 + "/memory.stat") ? v1 : "/sys/fs/cgroup"
    }

    /// A memcg given as its directory (`/sys/fs/cgroup/memory/A`) or as its path in the
    /// hierarchy, as reports print it (`/A`): its cgroup id and that path; nil when neither
    /// is a cgroup directory of the memory hierarchy.
    public static func resolve(_ name: String) -> (id: UInt64, path: String)? {
        let root = Self.root
        let path = hierarchyPath(name, roots: [root])
        let dir = root + (path == "/" ? "" : path)
        // A memcg's directory has the memory controller's files (v2's root has none).
        let fm = FileManager.default
        var info = stat()
        guard stat(dir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, fm.fileExists(atPath: dir + "/cgroup.procs"),
            fm.fileExists(atPath: dir + "/memory.stat") || path == "/"
        else { return nil }
        return (UInt64(info.st_ino), path)
    }

    /// `name` as a path in the hierarchy, as reports print it: under the first of `roots` (the
    /// mount points) that holds it, it loses that root ("/sys/fs/cgroup/memory/A/" -> "/A", a
    /// root itself -> "/"); anything else gets a leading "/" and no trailing one.
    static func hierarchyPath(_ name: String, roots: [String]) -> String {
        var path = name
        for root in roots where name == root || name.hasPrefix(root + "/") {
            path = String(name.dropFirst(root.count))
            break
        }
        if !path.hasPrefix("/") { path = "/" + path }
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }

    static func scan() -> [UInt64: String] {
        let root = Self.root
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
