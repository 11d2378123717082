// SPDX-License-Identifier: Apache-2.0
// ChaCha20 keystream from libcrypto, and nothing of it left behind.
//
// The cipher is libcrypto's own ChaCha20, reached through its default
// provider's dispatch table in a library context of our own: nothing the
// application configures (providers, properties, openssl.cnf, its RAND) can
// change it or be called from it, and start-up skips the method store that
// EVP_CIPHER_fetch() builds for every cipher (about 1.3 ms of CPU here).
// libcrypto keeps its cipher contexts on a heap grndpool cannot lock or wipe
// on fork, so a context holds a real key only inside Keystream(), is keyed
// with zeros again before it returns, never buffers a partial block (whole
// blocks only; a tail goes through a scrubbed stack block), and the stack
// libcrypto used is overwritten before Keystream() returns.
#pragma once

#include <cstddef>
#include <cstdint>

namespace grndpool {

inline constexpr size_t kKeystreamKeyBytes = 32;

// Start-up only, once: initialises libcrypto without its exit clean-up (an
// exit() racing a draw must not free what a refill uses) and without reading
// openssl.cnf, and makes `contexts` cipher contexts (at most 256): the only
// allocations; Keystream() never allocates. False when libcrypto cannot
// provide ChaCha20: Keystream() then always fails.
bool InitKeystream(size_t contexts);

// Writes len bytes of ChaCha20 (RFC 8439: 32-byte key, zero nonce, block
// counter 0) to out. Afterwards neither the key nor any byte written exists
// outside `key` and `out`. False, with `out` unspecified, when no context was
// free (more calls in progress than contexts) or libcrypto failed: the caller
// takes kernel bytes instead. Lock-free; async-signal-safe (a context is taken
// and returned with one atomic exchange each).
bool Keystream(const uint8_t *key, uint8_t *out, size_t len);

// Tests only: `true` takes every context out of the pool, as calls in
// progress on other threads would; `false` puts them back.
void HoldAllCiphersForTesting(bool hold);

}  // namespace grndpool
