#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a spool could not take or give back a page: the call that failed and errno's text.
public struct PageSpoolError: Error, CustomStringConvertible, Sendable {
    /// The errno the call set.
    public let code: Int32
    public let description: String

    init(_ what: String, code: Int32 = errno) {
        self.code = code
        description = "\(what): \(String(cString: strerror(code)))"
    }
}

/// One CPU's ring-buffer pages read live and not analyzed yet, first in, first out: in memory
/// up to `memoryPages`, beyond that in an unlinked file of its own, read back in order.
///
/// A reader thread pushes while the analysis pops (`LiveSession`): the spool is what lets the
/// reader drain the kernel's buffer whatever the analysis does, so it must never refuse a page
/// and never grow without bound in memory. When the analysis falls behind for longer than
/// the memory part covers (a storm), the pages wait on disk instead, where a backlog of
/// seconds costs disk space and page cache rather than the process's resident set.
///
/// Order across the two parts: a page goes to memory only while the file holds no page the
/// consumer has not read, and a pop takes the pages already read from the file first, then
/// memory, then the file; so every page in memory is older than every page in the file, or
/// newer than all of them once the file has been read to its end. A drained file is written
/// again from its start, so it is as long as the largest backlog it held, given back when
/// the spool is freed (the file is unlinked); it is not truncated on the way, because
/// truncating a file whose pages are under writeback waits for the disk, and a storm keeps
/// the disk busy. The memory ring starts again at its first slot whenever it is empty, so
/// the memory touched follows the backlog.
///
/// One lock guards the counters; it is held for a few loads and stores, never for a copy or
/// I/O, so neither side waits for the other's. A popped page stays valid until the next pop
/// (as a mapped file's would): a page in memory keeps its slot until then, and pages from the
/// file are read into the consumer's own buffer, up to `readBatch` pages a read.
public final class PageSpool: @unchecked Sendable {
    public let pageSize: Int
    /// How many pages the memory part holds (the page the consumer holds included).
    public let memoryPages: Int
    /// Pages read from the file in one `pread`.
    static let readBatch = 32

    private let lock = Lock()
    /// `memoryPages` slots of `pageSize` bytes, used as a ring.
    private let ring: UnsafeMutableRawPointer
    /// Ring positions (counts since the start; slot = position % memoryPages): the slots
    /// before `ringReleased` are free, `ringReleased..<ringHead` the page the consumer holds,
    /// `ringHead..<ringTail` the pages waiting.
    private var ringReleased = 0
    private var ringHead = 0
    private var ringTail = 0
    /// The file: the pages in `fileRead..<fileWritten` (byte offsets) wait in it; the producer
    /// may be writing `fileWritten..<fileReserved` outside the lock.
    private let fd: Int32
    private var fileRead = 0
    private var fileWritten = 0
    private var fileReserved = 0
    /// Pages read from the file and not yet popped (the consumer's, `batch[batchNext..<batchEnd]`).
    private let batch: UnsafeMutableRawPointer
    private var batchNext = 0
    private var batchEnd = 0
    /// A page being written to the file (the producer's).
    private let staging: UnsafeMutableRawPointer
    /// Pages that went through the file so far.
    private var spilled = 0
    /// See `completeThrough`.
    private var complete: UInt64 = 0

    /// Creates a spool whose file is an unlinked temporary file in `directory`.
    /// - Parameters:
    ///   - pageSize: the ring buffer's page size (every page pushed is this long).
    ///   - memoryPages: pages the memory part holds; 0 sends every page through the file.
    ///   - directory: where the file is created (and at once unlinked).
    /// - Throws: `PageSpoolError` when the file cannot be created there.
    public init(pageSize: Int, memoryPages: Int, directory: String) throws(PageSpoolError) {
        precondition(pageSize > 0 && memoryPages >= 0)
        var template = Array((directory + "/foliotrace-spool-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw PageSpoolError("cannot create a spool file in \(directory)") }
        unlink(String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        self.pageSize = pageSize
        self.memoryPages = memoryPages
        ring = .allocate(byteCount: max(memoryPages, 1) * pageSize, alignment: 64)
        batch = .allocate(byteCount: Self.readBatch * pageSize, alignment: 64)
        staging = .allocate(byteCount: pageSize, alignment: 64)
    }

    deinit {
        close(fd)
        ring.deallocate()
        batch.deallocate()
        staging.deallocate()
    }

    /// Pages waiting (in memory, in the file and read from it but not yet popped).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return (ringTail - ringHead) + (fileReserved - fileRead) / pageSize + (batchEnd - batchNext)
    }

    /// Pages that have gone through the file so far (pushed while the memory part was full,
    /// or behind pages that were in the file).
    public var spilledPages: Int {
        lock.lock()
        defer { lock.unlock() }
        return spilled
    }

    /// A time on the trace clock (nanoseconds) before which every event of this spool's CPU
    /// is in the spool (or was popped from it): 0 until the producer says more
    /// (`markComplete`). A consumer that reads it and then finds the spool empty knows that
    /// nothing older than it can still come (`LiveMerge`). Read it before popping: the
    /// producer pushes pages before it moves this past their events.
    public var completeThrough: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return complete
    }

    /// Says that every event before `time` (trace clock, nanoseconds) has been pushed; a time
    /// earlier than one said before changes nothing. `UInt64.max`: nothing more will come
    /// that must be waited for (reading has stopped, or the CPU's clock cannot be read).
    public func markComplete(through time: UInt64) {
        lock.lock()
        complete = max(complete, time)
        lock.unlock()
    }

    /// Appends one page: `bytes` of `page` were read, the rest of the spool's copy is zeros
    /// (as the kernel leaves a page it has not filled).
    /// - Throws: `PageSpoolError` when the page had to go to the file and could not be
    ///   written there (a full disk); the spool is as it was, so the caller may push the
    ///   same page again later.
    public func push(_ page: UnsafeRawPointer, bytes: Int) throws(PageSpoolError) {
        let n = min(max(bytes, 0), pageSize)
        lock.lock()
        if ringReleased == ringTail, ringTail > 0 {
            // The consumer holds no slot and none waits: start again at the first, so that
            // the memory touched follows the backlog rather than cycling through every slot.
            ringReleased = 0
            ringHead = 0
            ringTail = 0
        }
        if fileReserved == fileRead, ringTail - ringReleased < memoryPages {
            // The slot is free and the consumer does not look at it before ringTail moves.
            let slot = ring + (ringTail % memoryPages) * pageSize
            lock.unlock()
            copy(page, n, to: slot)
            lock.lock()
            ringTail += 1
            lock.unlock()
            return
        }
        let offset = fileReserved
        fileReserved += pageSize
        lock.unlock()
        copy(page, n, to: staging)
        var done = 0
        while done < pageSize {
            let w = pwrite(fd, staging + done, pageSize - done, off_t(offset + done))
            if w < 0, errno == EINTR { continue }
            guard w > 0 else {
                let failure = PageSpoolError("cannot write a page to the spool file", code: w == 0 ? ENOSPC : errno)
                lock.lock()
                fileReserved -= pageSize  // nothing after it was reserved: one producer
                lock.unlock()
                throw failure
            }
            done += w
        }
        lock.lock()
        fileWritten = offset + pageSize
        spilled += 1
        lock.unlock()
    }

    private func copy(_ page: UnsafeRawPointer, _ n: Int, to slot: UnsafeMutableRawPointer) {
        slot.copyMemory(from: page, byteCount: n)
        if n < pageSize { memset(slot + n, 0, pageSize - n) }
    }

    /// The oldest page, valid until the next call; nil when none is waiting.
    /// - Throws: `PageSpoolError` when the file could not be read back.
    public func pop() throws(PageSpoolError) -> UnsafeRawBufferPointer? {
        lock.lock()
        ringReleased = ringHead
        // Pages read from the file come first: memory took pages after them only once the
        // file had none left to give.
        if batchNext < batchEnd {
            let page = batch + batchNext * pageSize
            batchNext += 1
            lock.unlock()
            return UnsafeRawBufferPointer(start: page, count: pageSize)
        }
        if ringHead < ringTail {
            let page = ring + (ringHead % memoryPages) * pageSize
            ringHead += 1
            lock.unlock()
            return UnsafeRawBufferPointer(start: page, count: pageSize)
        }
        let from = fileRead
        let bytes = min(fileWritten - fileRead, Self.readBatch * pageSize)
        lock.unlock()
        guard bytes > 0 else { return nil }
        var done = 0
        while done < bytes {
            let r = pread(fd, batch + done, bytes - done, off_t(from + done))
            if r < 0, errno == EINTR { continue }
            guard r > 0 else {
                throw PageSpoolError("cannot read a page back from the spool file", code: r == 0 ? EIO : errno)
            }
            done += r
        }
        lock.lock()
        fileRead = from + bytes
        if fileRead == fileReserved {
            // Every page the file held has been taken: it is written from its start again.
            fileRead = 0
            fileWritten = 0
            fileReserved = 0
        }
        batchNext = 1
        batchEnd = bytes / pageSize
        lock.unlock()
        return UnsafeRawBufferPointer(start: batch, count: pageSize)
    }
}
