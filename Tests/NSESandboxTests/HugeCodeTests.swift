import Testing
import Glibc
import CSandboxSys

/// nse_hugefile_warm, on files shaped like an executable: one ELF64 header, one
/// loadable code segment, then bytes. Where the kernel gives huge pages, it must
/// leave the segment's whole 2 MiB pages cached in 2 MiB folios, which a fresh
/// mapping (as the zygote's) then maps with one page-directory entry each.
@Suite("Code on 2 MiB pages from the page cache", .enabled(if: hugePagesOnRequest()))
struct HugeCodeTests {
    @Test func aFileReadColdIsCachedInWhole2MiBFolios() throws {
        try withExecutableLike { fd in
            // Out of the page cache: the warm-up's own reading decides the folios.
            #expect(fdatasync(fd) == 0)
            #expect(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
            #expect(nse_hugefile_warm(fd) == 1)
            // 0x400000..0x800000 of the segment: offsets 0..4 MiB, two huge pages.
            #expect(pmdMappedKiB(fd: fd, offset: 0, length: 4 << 20) == 4096)
        }
    }

    @Test func aFileJustWrittenPageByPageIsWrittenOutAndReadAgainWhole() throws {
        // Written 4 KiB at a time a moment ago: cached in small folios, all dirty,
        // which the kernel drops only once they are written out.
        try withExecutableLike(writes: 4096) { fd in
            #expect(nse_hugefile_warm(fd) == 1)
            #expect(pmdMappedKiB(fd: fd, offset: 0, length: 4 << 20) == 4096)
        }
    }

    @Test func aFileCachedWholeIsFoundSoWhileAProcessMapsIt() throws {
        try withExecutableLike { fd in
            #expect(nse_hugefile_warm(fd) == 1)
            // A running zygote maps the folios (here, a mapping kept open): the next
            // scan's warm-up finds them whole, and the bytes are still the file's.
            let mapped = mmap(nil, 4 << 20, PROT_READ, MAP_PRIVATE, fd, 0)
            try #require(mapped != MAP_FAILED)
            defer { munmap(mapped, 4 << 20) }
            #expect(mapped!.load(fromByteOffset: 3 << 20, as: UInt8.self) == byte(at: 3 << 20))
            #expect(nse_hugefile_warm(fd) == 1)
        }
    }

    @Test func theBlocksHoldingTheDataSegmentAreCachedWholeToo() throws {
        // A data segment from 6 MiB + 7,872 bytes, 1.5 MiB long, in a 10 MiB file
        // written 4 KiB at a time: the block from 6 to 8 MiB holds it. Mapped with
        // small entries still (its address disagrees with its offset), but a fork
        // copies a folio's entries in one step.
        let data = DataSegment(offset: (6 << 20) + 0x1ec0, bytes: 3 << 19)
        try withExecutableLike(data: data, fileBytes: 10 << 20, writes: 4096) { fd in
            // Just written, in small folios: no fresh mapping maps it whole yet.
            #expect(pmdMappedKiB(fd: fd, offset: 6 << 20, length: 2 << 20) == 0)
            #expect(nse_hugefile_warm(fd) == 1)
            #expect(pmdMappedKiB(fd: fd, offset: 6 << 20, length: 2 << 20) == 2048)
            #expect(pmdMappedKiB(fd: fd, offset: 0, length: 4 << 20) == 4096)
        }
    }

    @Test func aDataBlockThatEndsPastTheFileIsLeftAsItIs() throws {
        // The data segment's block would run past the file's end (7 MiB): no 2 MiB
        // folio can hold it, so the code is cached whole and the data left alone.
        let data = DataSegment(offset: (6 << 20) + 0x1ec0, bytes: 1 << 19)
        try withExecutableLike(data: data, fileBytes: 7 << 20, writes: 4096) { fd in
            #expect(nse_hugefile_warm(fd) == 1)
            #expect(pmdMappedKiB(fd: fd, offset: 0, length: 4 << 20) == 4096)
            #expect(nse_hugefile_warm(fd) == 1)
        }
    }

    @Test func aSegmentWhoseAddressAndOffsetDisagreeIsLeftAlone() throws {
        // 0x401000 in memory, 0 in the file: no 2 MiB of the file can map whole.
        try withExecutableLike(vaddr: 0x40_1000) { fd in
            #expect(nse_hugefile_warm(fd) == 0)
        }
    }

    @Test func aFileThatIsNotAnExecutableIsLeftAlone() throws {
        let path = "/tmp/nsebox-hugecode-\(getpid())-text"
        let fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        let text = Array("not an executable\n".utf8)
        #expect(write(fd, text, text.count) == text.count)
        #expect(nse_hugefile_warm(fd) == 0)
    }
}

/// A writable loadable segment of a test file: where it starts in the file, and
/// its length there.
struct DataSegment { var offset: Int; var bytes: Int }

/// Runs `body` with a read-only descriptor of a new file made by
/// `executableLike`, then removes the file.
func withExecutableLike<T>(vaddr: UInt64 = 0x40_0000, offset: UInt64 = 0, codeBytes: Int = 6 << 20,
                           data: DataSegment? = nil, fileBytes: Int? = nil, writes: Int = 1 << 30,
                           _ body: (Int32) throws -> T) throws -> T {
    let path = try executableLike(vaddr: vaddr, offset: offset, codeBytes: codeBytes, data: data,
                                  fileBytes: fileBytes, writes: writes)
    defer { unlink(path) }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    try #require(fd >= 0)
    defer { close(fd) }
    return try body(fd)
}

/// Whether the kernel gives transparent huge pages to a mapping that asks.
func hugePagesOnRequest() -> Bool {
    guard let f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r") else { return false }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, Int32(line.count), f) != nil else { return false }
    let mode = String(cString: line)
    return mode.contains("[always]") || mode.contains("[madvise]")
}

/// The test file's byte at `offset` past its headers (a pattern, not zeros: a
/// page of zeros could be mapped from anywhere).
func byte(at offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset / 4096 &* 31 &+ offset % 251) }

/// A new file: an ELF64 header, one PT_LOAD segment (read and execute) at `vaddr`
/// from file offset `offset`, `codeBytes` long, and `data` if given (read and
/// write, 2 MiB past the code in memory), `fileBytes` of the pattern in all
/// (`codeBytes` by default), written `writes` bytes at a time. Returns its path.
func executableLike(vaddr: UInt64, offset: UInt64, codeBytes: Int, data: DataSegment? = nil, fileBytes: Int? = nil,
                    writes: Int = 1 << 30) throws -> String {
    let path = "/tmp/nsebox-hugecode-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    var bytes = (0..<(fileBytes ?? codeBytes)).map(byte(at:))
    func put<T: FixedWidthInteger>(_ value: T, at index: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[index + i] = b } }
    }
    bytes.replaceSubrange(0..<16, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    put(UInt16(2), at: 16)            // e_type: ET_EXEC
    put(UInt16(62), at: 18)           // e_machine: x86-64
    put(UInt32(1), at: 20)            // e_version
    put(UInt64(64), at: 32)           // e_phoff
    put(UInt16(64), at: 52)           // e_ehsize
    put(UInt16(56), at: 54)           // e_phentsize
    put(UInt16(data == nil ? 1 : 2), at: 56) // e_phnum
    put(UInt32(1), at: 64)            // p_type: PT_LOAD
    put(UInt32(5), at: 68)            // p_flags: PF_R | PF_X
    put(offset, at: 72)               // p_offset
    put(vaddr, at: 80)                // p_vaddr
    put(vaddr, at: 88)                // p_paddr
    put(UInt64(codeBytes), at: 96)    // p_filesz
    put(UInt64(codeBytes), at: 104)   // p_memsz
    put(UInt64(0x1000), at: 112)      // p_align
    if let data {
        let at = 64 + 56, address = vaddr + UInt64(codeBytes) + (2 << 20) + UInt64(data.offset % 4096)
        put(UInt32(1), at: at)                    // p_type: PT_LOAD
        put(UInt32(6), at: at + 4)                // p_flags: PF_R | PF_W
        put(UInt64(data.offset), at: at + 8)      // p_offset
        put(address, at: at + 16)                 // p_vaddr
        put(address, at: at + 24)                 // p_paddr
        put(UInt64(data.bytes), at: at + 32)      // p_filesz
        put(UInt64(data.bytes), at: at + 40)      // p_memsz
        put(UInt64(0x1000), at: at + 48)          // p_align
    }
    let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
    try #require(fd >= 0, "cannot create \(path)")
    defer { close(fd) }
    try bytes.withUnsafeBytes { all in
        for start in stride(from: 0, to: all.count, by: writes) {
            let piece = UnsafeRawBufferPointer(rebasing: all[start..<min(all.count, start + writes)])
            try #require(write(fd, piece.baseAddress, piece.count) == piece.count)
        }
    }
    return path
}

/// KiB of a fresh mapping of `length` bytes of `fd` at `offset` (2 MiB-aligned,
/// marked MADV_HUGEPAGE, one byte of each 2 MiB read) that page-directory
/// entries map, from this process's /proc/self/smaps; -1 if not found.
func pmdMappedKiB(fd: Int32, offset: Int, length: Int) -> Int {
    let huge = 2 << 20
    guard let area = mmap(nil, length + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), area != MAP_FAILED else { return -1 }
    defer { munmap(area, length + huge) }
    let start = (Int(bitPattern: area) + huge - 1) & ~(huge - 1)
    guard let m = mmap(UnsafeMutableRawPointer(bitPattern: start), length, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, off_t(offset)),
          m != MAP_FAILED, madvise(m, length, MADV_HUGEPAGE) == 0 else { return -1 }
    var sum = 0
    for at in stride(from: 0, to: length, by: huge) { sum &+= Int(m.load(fromByteOffset: at, as: UInt8.self)) }
    _ = sum
    guard let f = fopen("/proc/self/smaps", "r") else { return -1 }
    defer { fclose(f) }
    let head = String(start, radix: 16) + "-"
    var line = [CChar](repeating: 0, count: 512)
    var inside = false
    while fgets(&line, Int32(line.count), f) != nil {
        let text = String(cString: line)
        if !inside { inside = text.hasPrefix(head); continue }
        if text.hasPrefix("FilePmdMapped:") {
            return Int(text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
        }
        if let c = text.first, c.isHexDigit, c.isLowercase || c.isNumber { break }
    }
    return -1
}
