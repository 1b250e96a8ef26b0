import FuzzHarness

/// libFuzzer's entry point: one input as a perf.data.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPerfData(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Harness.run(data, size, reader: .perfData)
}
