import FuzzHarness

/// libFuzzer's entry point: one input as a trace.dat.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceDat(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Harness.run(data, size, reader: .traceDat)
}
