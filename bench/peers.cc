// SPDX-License-Identifier: Apache-2.0
#include "peers.h"

#include <openssl/rand.h>
#include <sodium.h>

#include "grndpool/grndpool.h"

#include <cstdio>
#include <cstdlib>

namespace grndpool_bench {

void GlibcArc4randomBuf(void *out, size_t n) {
  arc4random_buf(out, n);
}

bool SodiumReady() {
  // sodium_init is idempotent and thread-safe; 1 means "already initialised".
  static const bool ready = sodium_init() >= 0;
  return ready;
}

void SodiumRandombytesBuf(void *out, size_t n) {
  randombytes_buf(out, n);
}

void OpensslRandBytes(void *out, size_t n) {
  // RAND_bytes takes an int; the benchmark never asks for more than 4 KiB.
  if (RAND_bytes(static_cast<unsigned char *>(out), static_cast<int>(n)) != 1) {
    fprintf(stderr, "grndpool-bench: RAND_bytes failed\n");
    abort();
  }
}

std::vector<Peer> AvailablePeers(std::vector<std::string> *skipped) {
  std::vector<Peer> peers;
  peers.push_back({"glibc-arc4random", GlibcArc4randomBuf});
  std::string why;
  if (DrawFn bsd = LoadLibbsdArc4randomBuf(&why))
    peers.push_back({"libbsd-arc4random", bsd});
  else
    skipped->push_back("libbsd-arc4random: " + why);
  if (SodiumReady())
    peers.push_back({"libsodium", SodiumRandombytesBuf});
  else
    skipped->push_back("libsodium: sodium_init() failed");
  peers.push_back({"openssl-rand", OpensslRandBytes});
  if (RustPeersBuilt(&why)) {
    peers.push_back({"rust-threadrng", RustThreadRngDraw});
    peers.push_back({"rust-threadrng-held", RustThreadRngHeldDraw});
  } else {
    skipped->push_back("rust-threadrng, rust-threadrng-held: " + why);
  }
  peers.push_back({"keystream-limit", KeystreamLimitCall, kKeystreamLimitCallBytes});
  peers.push_back({"evp-chacha20-per-draw", EvpChacha20PerDraw});
  return peers;
}

uint32_t Grndpool4KiB() {
  alignas(64) uint32_t v[1024];
  grndpool_buf(v, sizeof v);
  return v[0] ^ v[1023];
}

}  // namespace grndpool_bench
