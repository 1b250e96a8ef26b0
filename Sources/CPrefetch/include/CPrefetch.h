#ifndef FOLIOTRACE_CPREFETCH_H
#define FOLIOTRACE_CPREFETCH_H

/// __builtin_prefetch for Swift, which has none of its own: asks the cache for the line at
/// `address`, to be written, without waiting for it. The engine's loop asks for the folios of
/// records a few ahead of the one it models (LifecycleEngine+Prefetch.swift). Inlined where
/// Swift calls it: one instruction, never a fault, whatever the address.
static inline __attribute__((always_inline)) void foliotrace_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// The CPU's spin-wait hint (x86 `pause`, arm64 `yield`), for a thread that polls for
/// another core's work a short while before it sleeps (ReadAheadStream.swift): the loop
/// goes easy on the core and on the pipeline it leaves when the work comes.
static inline __attribute__((always_inline)) void foliotrace_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
