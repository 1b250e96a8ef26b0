import CZlib
import CZstd

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

/// The compression a version-7 trace.dat names in its header ("none", "zstd" or "zlib").
///
/// trace-cmd compresses metadata sections as one block and CPU data as a series of chunks;
/// both are plain zstd frames or zlib streams (trace-cmd's `trace-compress-zstd.c` and
/// `trace-compress-zlib.c`), so one `uncompress` serves both.
enum Compression: Equatable {
    case none
    case zstd
    case zlib

    init(name: String) throws(TraceProblem) {
        switch name {
        case "none", "": self = .none
        case "zstd": self = .zstd
        case "zlib": self = .zlib
        default: throw TraceProblem(.corrupt("unknown compression algorithm '\(name)'"))
        }
    }

    /// Decompresses `source` into `destination`, which must have exactly the expected size.
    func uncompress(
        _ source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        what: String
    ) throws(TraceProblem) {
        guard let dst = destination.baseAddress, let src = source.baseAddress else {
            if destination.isEmpty { return }
            throw TraceProblem(.decompression("\(what): empty input"))
        }
        switch self {
        case .none:
            guard source.count == destination.count else {
                throw TraceProblem(.corrupt("\(what): size mismatch"))
            }
            destination.copyMemory(from: source)
        case .zstd:
            let n = ZSTD_decompress(dst, destination.count, src, source.count)
            guard ZSTD_isError(n) == 0 else {
                throw TraceProblem(.decompression("\(what): zstd: \(String(cString: ZSTD_getErrorName(n)))"))
            }
            guard n == destination.count else {
                throw TraceProblem(.decompression("\(what): zstd gave \(n) bytes, expected \(destination.count)"))
            }
        case .zlib:
            var n = uLongf(destination.count)
            let rc = CZlib.uncompress(
                dst.assumingMemoryBound(to: Bytef.self),
                &n,
                src.assumingMemoryBound(to: Bytef.self),
                uLong(source.count)
            )
            guard rc == Z_OK else { throw TraceProblem(.decompression("\(what): zlib error \(rc)")) }
            guard Int(n) == destination.count else {
                throw TraceProblem(.decompression("\(what): zlib gave \(n) bytes, expected \(destination.count)"))
            }
        }
    }

    /// Checks a decompressed size read from the file before it sizes an allocation: no real
    /// stream expands more than these algorithms can (zlib's deflate at most 1032:1; zstd's
    /// RLE blocks far more, but ring-buffer pages, even empty ones, stay under 1:8192), so a
    /// damaged size field fails here rather than asking for gigabytes.
    func checkExpansion(compressed: Int, size: Int, what: @autoclosure () -> String) throws(TraceProblem) {
        let ratio: Int
        switch self {
        case .none: ratio = 1
        case .zlib: ratio = 1032
        case .zstd: ratio = 8192
        }
        let limit = compressed.multipliedReportingOverflow(by: ratio)
        guard size <= max(1 << 20, limit.overflow ? .max : limit.partialValue) || size <= compressed else {
            throw TraceProblem(.corrupt("\(what()): \(compressed) compressed bytes cannot hold \(size) bytes"))
        }
    }

    /// Claimed sizes above this are checked by decompressing before anything that large is
    /// allocated (`checkClaim`). Real blocks and chunks are far smaller: trace-cmd compresses
    /// CPU data in chunks of a few ring-buffer pages and metadata in blocks of a few MiB.
    static let largeClaim = 64 << 20

    /// Checks, for a claimed size above `largeClaim`, that `source` really decompresses to
    /// `size` bytes, streaming through a small scratch buffer: a damaged size field then fails
    /// here instead of allocating gigabytes that the data never fills, so memory stays
    /// proportional to what the file holds. (`checkExpansion` alone allows zstd 8192:1, which a
    /// 512 KiB frame with a 4 GiB size field passes; a frame need not declare its content size.)
    func checkClaim(_ source: UnsafeRawBufferPointer, size: Int, what: @autoclosure () -> String) throws(TraceProblem) {
        guard size > Compression.largeClaim, self != .none else { return }
        let produced: Int?
        switch self {
        case .none: return
        case .zstd: produced = Compression.zstdDecompressedSize(source, limit: size)
        case .zlib: produced = Compression.zlibDecompressedSize(source, limit: size)
        }
        guard let produced, produced == size else {
            throw TraceProblem(
                .decompression("\(what()): the data does not decompress to the \(size) bytes its header claims")
            )
        }
    }

    /// The bytes a zstd stream decompresses to, counted without keeping them; nil on an error or
    /// once more than `limit` bytes came out.
    private static func zstdDecompressedSize(_ source: UnsafeRawBufferPointer, limit: Int) -> Int? {
        guard let dctx = ZSTD_createDCtx() else { return nil }
        defer { ZSTD_freeDCtx(dctx) }
        let scratchSize = 1 << 20
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        var total = 0
        while true {
            var output = ZSTD_outBuffer(dst: scratch, size: scratchSize, pos: 0)
            let rc = ZSTD_decompressStream(dctx, &output, &input)
            if ZSTD_isError(rc) != 0 { return nil }
            total += output.pos
            if total > limit { return nil }
            // Done when the input is used up and the decoder has nothing more to flush.
            if input.pos == input.size && output.pos < scratchSize { return total }
            if output.pos == 0 && input.pos == input.size { return total }
        }
    }

    /// The bytes a zlib stream decompresses to, counted without keeping them; nil on an error or
    /// once more than `limit` bytes came out.
    private static func zlibDecompressedSize(_ source: UnsafeRawBufferPointer, limit: Int) -> Int? {
        guard source.count <= Int(UInt32.max) else { return nil }
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        let scratchSize = 1 << 20
        let scratch = UnsafeMutablePointer<Bytef>.allocate(capacity: scratchSize)
        defer { scratch.deallocate() }
        stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(source.count)
        var total = 0
        while true {
            stream.next_out = scratch
            stream.avail_out = uInt(scratchSize)
            let rc = inflate(&stream, Z_NO_FLUSH)
            total += scratchSize - Int(stream.avail_out)
            if total > limit { return nil }
            if rc == Z_STREAM_END { return total }
            guard rc == Z_OK else { return nil }
        }
    }

    /// Decompresses a metadata block (`<u32 compressed size><u32 size><data>`).
    func uncompressBlock(_ cursor: inout ByteCursor, what: String) throws(TraceProblem) -> OwnedBytes {
        let compressedSize = Int(try cursor.u32("\(what) compressed size"))
        let size = Int(try cursor.u32("\(what) uncompressed size"))
        let source = try cursor.slice(compressedSize, what)
        try checkExpansion(compressed: compressedSize, size: size, what: what)
        try checkClaim(source, size: size, what: what)
        let out = OwnedBytes(count: size)
        try uncompress(source, into: out.bytes, what: what)
        return out
    }
}

/// A heap buffer with one owner, for decompressed sections and CPU-data chunks whose bytes
/// are read in place through raw pointers.
final class OwnedBytes {
    private let storage: UnsafeMutableRawBufferPointer
    /// The buffer, exactly `count` bytes long.
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int) {
        storage = .allocate(byteCount: max(count, 1), alignment: 16)
        bytes = UnsafeMutableRawBufferPointer(rebasing: storage[0..<count])
    }

    /// A buffer of `count` bytes, or nil when there is no memory for it (a `ulimit -v`), where
    /// Swift's allocator would end the process: for a buffer the caller can do without (a
    /// chunk inflated ahead, which is then inflated in line).
    init?(ifAvailable count: Int) {
        // What `allocate(byteCount:alignment:)` calls for an alignment malloc's already has,
        // and what `deallocate()` frees.
        guard let raw = malloc(max(count, 1)) else { return nil }
        storage = UnsafeMutableRawBufferPointer(start: raw, count: max(count, 1))
        bytes = UnsafeMutableRawBufferPointer(rebasing: storage[0..<count])
    }

    deinit { storage.deallocate() }
}

/// zstd compression for the trace.dat v7 writer (level 3: zstd's default, fast enough to
/// keep up with a capture and about 7x on ring-buffer pages).
enum ZstdCompressor {
    static func compress(_ input: Data, level: Int32 = 3) -> Data {
        let bound = ZSTD_compressBound(input.count)
        var out = Data(count: bound)
        let n = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level)
            }
        }
        precondition(ZSTD_isError(n) == 0, "zstd compression cannot fail with a compressBound buffer")
        out.count = n
        return out
    }

    /// The library's version, as trace-cmd writes it in the file header ("1.5.4").
    static var version: String { String(cString: ZSTD_versionString()) }
}
