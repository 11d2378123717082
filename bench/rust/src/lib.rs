// SPDX-License-Identifier: Apache-2.0
//! Rust's rand 0.8 ThreadRng (ChaCha12, reseeded from getrandom every 64 KiB
//! of output, fork noticed through an atfork handler) behind a C ABI, for
//! bench/peer_rust.cc. Every function is one call per draw, like
//! grndpool_u32(); nothing is inlined across the language boundary.

use rand::rngs::ThreadRng;
use rand::RngCore;
use std::slice;

/// `rand::random::<u32>()`: the idiom most Rust code uses (the thread's RNG
/// is looked up on every call).
#[no_mangle]
pub extern "C" fn grndpool_bench_rust_random_u32() -> u32 {
    rand::random::<u32>()
}

/// `rand::random::<u64>()`.
#[no_mangle]
pub extern "C" fn grndpool_bench_rust_random_u64() -> u64 {
    rand::random::<u64>()
}

/// `rand::thread_rng().fill_bytes(out[..len])`.
///
/// # Safety
/// `out` must be valid for `len` bytes of writes (or `len` must be 0).
#[no_mangle]
pub unsafe extern "C" fn grndpool_bench_rust_thread_rng_fill(out: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    rand::thread_rng().fill_bytes(slice::from_raw_parts_mut(out, len));
}

/// A ThreadRng the caller holds (as Rust code keeps `let mut rng =
/// thread_rng();` across a loop). Returns a handle owned by the calling thread
/// only (ThreadRng is !Send); release it with grndpool_bench_rust_held_free on
/// the same thread.
#[no_mangle]
pub extern "C" fn grndpool_bench_rust_held_new() -> *mut ThreadRng {
    Box::into_raw(Box::new(rand::thread_rng()))
}

/// # Safety
/// `rng` comes from grndpool_bench_rust_held_new on this thread and was not freed.
#[no_mangle]
pub unsafe extern "C" fn grndpool_bench_rust_held_free(rng: *mut ThreadRng) {
    if !rng.is_null() {
        drop(Box::from_raw(rng));
    }
}

/// `rng.next_u32()` on a held ThreadRng.
///
/// # Safety
/// As for grndpool_bench_rust_held_free.
#[no_mangle]
pub unsafe extern "C" fn grndpool_bench_rust_held_next_u32(rng: *mut ThreadRng) -> u32 {
    (*rng).next_u32()
}

/// `rng.next_u64()` on a held ThreadRng.
///
/// # Safety
/// As for grndpool_bench_rust_held_free.
#[no_mangle]
pub unsafe extern "C" fn grndpool_bench_rust_held_next_u64(rng: *mut ThreadRng) -> u64 {
    (*rng).next_u64()
}

/// `rng.fill_bytes(out[..len])` on a held ThreadRng.
///
/// # Safety
/// As for grndpool_bench_rust_held_free; `out` valid for `len` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn grndpool_bench_rust_held_fill(
    rng: *mut ThreadRng,
    out: *mut u8,
    len: usize,
) {
    if len == 0 {
        return;
    }
    (*rng).fill_bytes(slice::from_raw_parts_mut(out, len));
}
