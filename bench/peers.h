// The randomness libraries servers use today, each behind the same
// `void draw(void *out, size_t n)` shape as a grndpool strategy, so the
// benchmark can put them in one table.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace grndpool_bench {

struct Peer {
  std::string name;
  // Fills out with n random bytes. Thread-safe.
  void (*draw)(void *out, size_t n);
};

// Every peer that works in this process. A peer that cannot be loaded (libbsd
// missing, libsodium failing to initialise) is left out and one line saying why
// is appended to `skipped`.
std::vector<Peer> AvailablePeers(std::vector<std::string> *skipped);

// Individual peers, one file per concern.
// glibc >= 2.36 arc4random_buf (a getrandom-backed ChaCha20 per thread).
void GlibcArc4randomBuf(void *out, size_t n);
// libsodium randombytes_buf; call SodiumReady() once first (sodium_init).
bool SodiumReady();
void SodiumRandombytesBuf(void *out, size_t n);
// OpenSSL's default DRBG (RAND_bytes), which never fails once seeded.
void OpensslRandBytes(void *out, size_t n);
// Raw libcrypto ChaCha20 keystream, one cipher context per thread, keyed once
// from getrandom: the ceiling any userspace CSPRNG built on it can reach.
void RawChacha20Keystream(void *out, size_t n);
// libbsd arc4random_buf, looked up with dlopen because glibc exports the same
// name. Returns nullptr and sets *why when libbsd cannot be loaded.
using DrawFn = void (*)(void *, size_t);
DrawFn LoadLibbsdArc4randomBuf(std::string *why);

}  // namespace grndpool_bench
