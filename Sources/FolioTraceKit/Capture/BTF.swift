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

/// The kernel's own type information (`/sys/kernel/btf/vmlinux`): struct member offsets and
/// function prototypes, so kprobes fetch the right fields on whatever build is running.
/// Format: the kernel's Documentation/bpf/btf.rst (header, type section, string section).
public struct BTF {
    /// BTF_KIND_* values used here.
    enum Kind: UInt32 {
        case int = 1
        case pointer, array, structure, union, enumeration, forward, typedef, volatile, const, restrict
        case function, functionPrototype, variable, dataSection, float, declTag, typeTag, enumeration64
    }

    struct TypeInfo {
        var nameOffset: UInt32
        var kind: UInt32
        var vlen: Int
        var kindFlag: Bool
        /// Size (structs, unions, ints) or referenced type id (pointers, typedefs, functions).
        var sizeOrType: UInt32
        /// Offset of the kind-specific data after the 12-byte common part.
        var extra: Int
    }

    private let data: Data
    private let stringBase: Int
    private let stringEnd: Int
    private var types: [TypeInfo] = [
        TypeInfo(nameOffset: 0, kind: 0, vlen: 0, kindFlag: false, sizeOrType: 0, extra: 0)
    ]
    private var byName: [String: [Int]] = [:]

    /// - Throws: `CaptureError` when the file is missing or not BTF.
    public init(path: String = "/sys/kernel/btf/vmlinux") throws(CaptureError) {
        let bytes = readWhole(path)
        let word = { (at: Int) in bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
        guard bytes.count >= 24, word(0) & 0xffff == 0xEB9F else {
            throw CaptureError("\(path): no kernel BTF here (the kernel needs CONFIG_DEBUG_INFO_BTF)")
        }
        data = bytes
        let headerLength = Int(word(4))
        let typeOffset = headerLength + Int(word(8))
        let typeLength = Int(word(12))
        stringBase = headerLength + Int(word(16))
        stringEnd = stringBase + Int(word(20))
        guard typeOffset + typeLength <= data.count, stringEnd <= data.count else {
            throw CaptureError("\(path): BTF sections run past the end of the file")
        }
        var o = typeOffset
        while o + 12 <= typeOffset + typeLength {
            let info = u32(o + 4)
            let t = TypeInfo(
                nameOffset: u32(o),
                kind: (info >> 24) & 0x1f,
                vlen: Int(info & 0xffff),
                kindFlag: info >> 31 == 1,
                sizeOrType: u32(o + 8),
                extra: o + 12
            )
            o += 12 + Self.extraSize(t)
            types.append(t)
            if t.nameOffset != 0 { byName[string(t.nameOffset), default: []].append(types.count - 1) }
        }
    }

    private static func extraSize(_ t: TypeInfo) -> Int {
        switch Kind(rawValue: t.kind) {
        case .int, .variable, .declTag: return 4
        case .array: return 12
        case .structure, .union, .dataSection, .enumeration64: return 12 * t.vlen
        case .enumeration, .functionPrototype: return 8 * t.vlen
        default: return 0
        }
    }

    private func u32(_ at: Int) -> UInt32 {
        data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
    }

    private func string(_ offset: UInt32) -> String {
        let start = stringBase + Int(offset)
        guard start < stringEnd else { return "" }
        let end = data[start..<stringEnd].firstIndex(of: 0) ?? stringEnd
        return String(decoding: data[start..<end], as: UTF8.self)
    }

    private func named(_ name: String, _ kind: Kind) -> TypeInfo? {
        byName[name]?.lazy.map { types[$0] }.first {
            $0.kind == kind.rawValue && ($0.kind != Kind.structure.rawValue || $0.vlen > 0)
        }
    }

    /// sizeof(struct `name`).
    public func size(ofStruct name: String) -> Int? { named(name, .structure).map { Int($0.sizeOrType) } }

    /// The byte offset of `member` in struct `name`, looking into anonymous structs and
    /// unions (struct page keeps most fields in those).
    public func offset(of member: String, in name: String) -> Int? {
        guard let s = named(name, .structure) else { return nil }
        return find(member, in: s)
    }

    private func find(_ member: String, in s: TypeInfo) -> Int? {
        for i in 0..<s.vlen {
            let m = s.extra + 12 * i
            let bits = s.kindFlag ? u32(m + 8) & 0xff_ffff : u32(m + 8)
            let memberName = string(u32(m))
            if memberName == member { return Int(bits / 8) }
            if memberName.isEmpty, let inner = resolve(Int(u32(m + 4))),
                inner.kind == Kind.structure.rawValue || inner.kind == Kind.union.rawValue,
                let found = find(member, in: inner)
            {
                return Int(bits / 8) + found
            }
        }
        return nil
    }

    /// Follows typedefs and qualifiers to the underlying type.
    private func resolve(_ id: Int) -> TypeInfo? {
        var id = id
        for _ in 0..<16 {
            guard id > 0, id < types.count else { return nil }
            let t = types[id]
            switch Kind(rawValue: t.kind) {
            case .typedef, .volatile, .const, .restrict, .typeTag: id = Int(t.sizeOrType)
            default: return t
            }
        }
        return nil
    }

    /// The parameter names of a kernel function, in order (nil when BTF has no prototype).
    public func parameters(of function: String) -> [String]? {
        guard let f = named(function, .function), let proto = resolve(Int(f.sizeOrType)),
            proto.kind == Kind.functionPrototype.rawValue
        else { return nil }
        return (0..<proto.vlen).map { string(u32(proto.extra + 8 * $0)) }
    }

    /// The enumerators of `enum name`, in declaration order.
    public func enumerators(of name: String) -> [(name: String, value: Int64)] {
        guard let t = named(name, .enumeration) else { return [] }
        return (0..<t.vlen).map { i in
            (string(u32(t.extra + 8 * i)), Int64(Int32(bitPattern: u32(t.extra + 8 * i + 4))))
        }
    }

    /// The value of an enumerator (`PG_head`), searching every enum.
    public func enumerator(_ name: String) -> Int64? {
        for t in types where t.kind == Kind.enumeration.rawValue {
            for i in 0..<t.vlen where string(u32(t.extra + 8 * i)) == name {
                return Int64(Int32(bitPattern: u32(t.extra + 8 * i + 4)))
            }
        }
        return nil
    }
}
