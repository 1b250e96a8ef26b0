#ifndef FOLIOTRACE_CPREFETCH_H
#define FOLIOTRACE_CPREFETCH_H

/// __builtin_prefetch for Swift, which has none of its own: asks the cache for the line at
/// `address`, to be written, without waiting for it. The engine's loop asks for the folios of
/// records a few ahead of the one it models (LifecycleEngine+Prefetch.swift). Inlined where
/// Swift calls it: one instruction, never a fault, whatever the address.
static inline __attribute__((always_inline)) void foliotrace_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
