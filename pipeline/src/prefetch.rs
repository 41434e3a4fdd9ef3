//! A software prefetch hint, for the random reads of graph arrays (rows of a mapped store, a
//! permutation's swap targets) whose addresses are known before the hardware could guess them.

/// Asks the CPU to bring the cache line holding `p` into L1. A hint only: it never faults,
/// whatever the address; a no-op off x86_64.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
