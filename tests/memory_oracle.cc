// SPDX-License-Identifier: Apache-2.0
#include "tests/memory_oracle.h"

#include <elf.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

extern char **environ;

namespace grndpool::test {
namespace {

// ---- The child: raw syscalls, static storage, its own stack ----------------

// Prepared before the fork; the child uses nothing else (after SYS_fork in a
// threaded process it may not call malloc, and its own stack use would
// overwrite the dead frames below the forking thread's stack pointer, which
// are exactly what a careful attacker reads first).
constexpr size_t kMapsBytes = 8 << 20;
char g_maps[kMapsBytes];
constexpr size_t kVecPages = 1 << 18;  // mincore() covers 1 GiB per call
unsigned char g_vec[kVecPages];
alignas(16) uint8_t g_child_stack[256 << 10];
const uint8_t kZeroPage[4096] = {};
int g_dump_fd = -1;
ucontext_t g_fork_context, g_dump_context;

struct Record {
  uint64_t start;
  uint64_t bytes;
};
constexpr uint64_t kHugeMapping = 64ull << 30;
constexpr uint64_t kSkippedMark = ~uint64_t{0};  // a Record{kSkippedMark, bytes}: left out

__attribute__((no_sanitize("address", "thread", "undefined"))) bool WriteAll(const void *p,
                                                                             size_t n) {
  const auto *b = static_cast<const uint8_t *>(p);
  while (n > 0) {
    const long w = syscall(SYS_write, g_dump_fd, b, n);
    if (w <= 0) return false;
    b += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

__attribute__((no_sanitize("address", "thread", "undefined"))) void WriteSkipped(uint64_t bytes) {
  const Record r{kSkippedMark, bytes};
  WriteAll(&r, sizeof r);
}

// Writes [p, p + n) to the image; a page the kernel will not copy (EFAULT)
// goes in as zeros, so records keep their length.
__attribute__((no_sanitize("address", "thread", "undefined"))) void WriteRun(uintptr_t p,
                                                                             size_t n) {
  const Record r{p, n};
  WriteAll(&r, sizeof r);
  while (n > 0) {
    const long w = syscall(SYS_write, g_dump_fd, reinterpret_cast<const void *>(p), n);
    if (w > 0) {
      p += static_cast<size_t>(w);
      n -= static_cast<size_t>(w);
      continue;
    }
    const size_t page = n < sizeof kZeroPage ? n : sizeof kZeroPage;
    WriteAll(kZeroPage, page);
    p += page;
    n -= page;
  }
}

__attribute__((no_sanitize("address", "thread", "undefined"))) uint64_t Hex(const char **s) {
  uint64_t v = 0;
  for (;; ++*s) {
    const char c = **s;
    if (c >= '0' && c <= '9')
      v = v * 16 + static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    else
      return v;
  }
}

__attribute__((no_sanitize("address", "thread", "undefined"))) bool Contains(const char *line,
                                                                             const char *end,
                                                                             const char *what) {
  const size_t n = strlen(what);
  for (const char *p = line; p + n <= end; ++p)
    if (memcmp(p, what, n) == 0) return true;
  return false;
}

// Every resident page of every readable mapping (the kernel's own [vvar] and
// [vsyscall] pages aside), as records.
__attribute__((no_sanitize("address", "thread", "undefined"))) int DumpSelf() {
  const int maps = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY));
  if (maps < 0) return 3;
  size_t used = 0;
  for (;;) {
    const long r = syscall(SYS_read, maps, g_maps + used, kMapsBytes - 1 - used);
    if (r <= 0) break;
    used += static_cast<size_t>(r);
  }
  syscall(SYS_close, maps);
  g_maps[used] = '\0';
  const size_t page = 4096;
  for (const char *line = g_maps; *line != '\0';) {
    const char *eol = line;
    while (*eol != '\n' && *eol != '\0') ++eol;
    const char *p = line;
    const uint64_t lo = Hex(&p);
    ++p;
    const uint64_t hi = Hex(&p);
    const bool readable = p[1] == 'r';
    // Terabytes of sanitizer shadow (the only mappings this large) are left
    // out and counted; the positive controls show what remains is enough.
    const bool huge = hi - lo > kHugeMapping;
    if (readable && huge) WriteSkipped(hi - lo);
    if (readable && !huge && !Contains(line, eol, "[vvar") && !Contains(line, eol, "[vsyscall]")) {
      for (uint64_t chunk = lo; chunk < hi; chunk += kVecPages * page) {
        const uint64_t chunk_end = hi - chunk < kVecPages * page ? hi : chunk + kVecPages * page;
        const size_t pages = static_cast<size_t>((chunk_end - chunk) / page);
        if (syscall(SYS_mincore, chunk, chunk_end - chunk, g_vec) != 0) continue;
        for (size_t i = 0; i < pages;) {
          if ((g_vec[i] & 1) == 0) {
            ++i;
            continue;
          }
          size_t j = i;
          while (j < pages && (g_vec[j] & 1) != 0) ++j;
          WriteRun(static_cast<uintptr_t>(chunk + i * page), (j - i) * page);
          i = j;
        }
      }
    }
    line = *eol == '\n' ? eol + 1 : eol;
  }
  return 0;
}

// The glibc fork() child switches to g_child_stack at once and dumps there.
__attribute__((no_sanitize("address", "thread", "undefined"))) void DumpOnOwnStack() {
  syscall(SYS_exit_group, DumpSelf());
}

// The raw clone child starts on g_child_stack.
__attribute__((no_sanitize("address", "thread", "undefined"))) int CloneChild(void *) {
  return DumpSelf();
}

// ---- The parent ------------------------------------------------------------

std::string NameOf(uintptr_t address) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2 || address < lo || address >= hi) continue;
    const size_t slash = line.find_first_of("/[");
    return slash == std::string::npos ? "anonymous" : line.substr(slash);
  }
  return "unmapped now";
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
  return status;
}

// Maps `fd` (bytes long) read-only, out of later children's and core dumps' sight.
uint8_t *MapImageFile(int fd, size_t bytes, size_t *mapped) {
  if (bytes == 0) return nullptr;
  void *p = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  madvise(p, bytes, MADV_DONTFORK);
  madvise(p, bytes, MADV_DONTDUMP);
  *mapped = bytes;
  return static_cast<uint8_t *>(p);
}

}  // namespace

const char *ImageName(ImageKind kind) {
  switch (kind) {
    case ImageKind::kForkChild:
      return "fork() child";
    case ImageKind::kRawForkChild:
      return "raw clone child";
    case ImageKind::kCoreDump:
      return "core dump";
  }
  return "?";
}

MemoryImage::MemoryImage(MemoryImage &&o) noexcept {
  *this = std::move(o);
}

MemoryImage &MemoryImage::operator=(MemoryImage &&o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  std::swap(mapped_, o.mapped_);
  regions_.swap(o.regions_);
  error_.swap(o.error_);
  std::swap(skipped_bytes_, o.skipped_bytes_);
  return *this;
}

MemoryImage::~MemoryImage() {
  if (data_ != nullptr) munmap(data_, mapped_);
}

std::string MemoryImage::Where(size_t offset) const {
  for (const Region &r : regions_)
    if (offset >= r.offset && offset < r.offset + r.bytes) {
      char at[64];
      snprintf(at, sizeof at, " at 0x%lx", static_cast<unsigned long>(r.start + offset - r.offset));
      return r.name + at;
    }
  return "?";
}

// Children: records {start, bytes} then the bytes.
void ParseRecords(MemoryImage *image, const uint8_t *file, size_t bytes,
                  std::vector<MemoryImage::Region> *regions) {
  size_t at = 0;
  while (at + sizeof(Record) <= bytes) {
    Record r;
    memcpy(&r, file + at, sizeof r);
    at += sizeof r;
    if (r.start == kSkippedMark) {
      image->skipped_bytes_ += r.bytes;
      continue;
    }
    if (r.bytes > bytes - at) break;
    regions->push_back({static_cast<uintptr_t>(r.start), at, static_cast<size_t>(r.bytes),
                        NameOf(static_cast<uintptr_t>(r.start))});
    at += r.bytes;
  }
}

namespace {

// Core dumps: the PT_LOAD segments that hold bytes.
void ParseCore(const uint8_t *file, size_t bytes, std::vector<MemoryImage::Region> *regions) {
  if (bytes < sizeof(Elf64_Ehdr)) return;
  Elf64_Ehdr eh;
  memcpy(&eh, file, sizeof eh);
  for (int i = 0; i < eh.e_phnum; ++i) {
    const size_t at = eh.e_phoff + static_cast<size_t>(i) * eh.e_phentsize;
    if (at + sizeof(Elf64_Phdr) > bytes) return;
    Elf64_Phdr ph;
    memcpy(&ph, file + at, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_filesz == 0 || ph.p_offset + ph.p_filesz > bytes) continue;
    regions->push_back({static_cast<uintptr_t>(ph.p_vaddr), static_cast<size_t>(ph.p_offset),
                        static_cast<size_t>(ph.p_filesz),
                        NameOf(static_cast<uintptr_t>(ph.p_vaddr))});
  }
}

}  // namespace

MemoryImage TakeImage(ImageKind kind) {
  MemoryImage image;
  int fd = -1;
  if (kind == ImageKind::kCoreDump) {
    char path[] = "/tmp/grndpool-oracle-XXXXXX";
    const int tmp = mkstemp(path);
    if (tmp < 0) {
      image.error_ = "mkstemp failed";
      return image;
    }
    close(tmp);
    const std::string pid = std::to_string(getpid());
    const std::string out = path;
    const char *argv[] = {"gcore", "-o", out.c_str(), pid.c_str(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t child = 0;
    const int err =
        posix_spawnp(&child, "gcore", &actions, nullptr, const_cast<char **>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    const int status = err == 0 ? WaitFor(child) : -1;
    // gcore appends ".PID" to the name it is given.
    const std::string core = out + "." + pid;
    unlink(path);
    fd = open(core.c_str(), O_RDONLY | O_CLOEXEC);
    unlink(core.c_str());
    if (err != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || fd < 0) {
      image.error_ = "gcore failed (is gdb installed?)";
      if (fd >= 0) close(fd);
      return image;
    }
  } else {
    fd = static_cast<int>(syscall(SYS_memfd_create, "grndpool-oracle", MFD_CLOEXEC));
    if (fd < 0) {
      image.error_ = "memfd_create failed";
      return image;
    }
    g_dump_fd = fd;
    pid_t pid;
    if (kind == ImageKind::kRawForkChild) {
      pid = clone(CloneChild, g_child_stack + sizeof g_child_stack, SIGCHLD, nullptr);
    } else {
      getcontext(&g_dump_context);
      g_dump_context.uc_stack.ss_sp = g_child_stack;
      g_dump_context.uc_stack.ss_size = sizeof g_child_stack;
      g_dump_context.uc_link = nullptr;
      makecontext(&g_dump_context, DumpOnOwnStack, 0);
      pid = fork();
      if (pid == 0) swapcontext(&g_fork_context, &g_dump_context);  // does not return
    }
    const int status = pid > 0 ? WaitFor(pid) : -1;
    if (pid <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      image.error_ = "the dumping child failed";
      close(fd);
      return image;
    }
  }
  struct stat st {};
  fstat(fd, &st);
  image.data_ = MapImageFile(fd, static_cast<size_t>(st.st_size), &image.mapped_);
  close(fd);
  if (image.data_ == nullptr) {
    image.error_ = "empty image";
    return image;
  }
  image.size_ = image.mapped_;
  if (kind == ImageKind::kCoreDump)
    ParseCore(image.data_, image.size_, &image.regions_);
  else
    ParseRecords(&image, image.data_, image.size_, &image.regions_);
  return image;
}

Found FindWindows(const MemoryImage &image, const uint8_t *needle, size_t len) {
  Found found;
  if (len < 16 || image.data() == nullptr) return found;
  const size_t windows = len - 15;
  size_t capacity = 1024;
  while (capacity < 4 * windows) capacity *= 2;
  const int shift = 64 - __builtin_ctzll(capacity);
  std::vector<uint64_t> keys(capacity);
  std::vector<int64_t> at(capacity, -1);
  auto slot = [&](uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> shift; };
  for (size_t w = 0; w < windows; ++w) {
    uint64_t key;
    memcpy(&key, needle + w, 8);
    size_t i = slot(key);
    while (at[i] >= 0) i = (i + 1) & (capacity - 1);
    keys[i] = key;
    at[i] = static_cast<int64_t>(w);
  }
  std::vector<bool> seen(windows);
  for (const MemoryImage::Region &r : image.regions()) {
    const uint8_t *base = image.data() + r.offset;
    for (size_t p = 0; p + 16 <= r.bytes; ++p) {
      uint64_t key;
      memcpy(&key, base + p, 8);
      for (size_t i = slot(key); at[i] >= 0; i = (i + 1) & (capacity - 1)) {
        if (keys[i] != key) continue;
        const size_t w = static_cast<size_t>(at[i]);
        if (memcmp(base + p + 8, needle + w + 8, 8) != 0 || seen[w]) continue;
        seen[w] = true;
        if (found.windows++ == 0)
          found.first_place = image.Where(r.offset + p) + " (window at byte " + std::to_string(w) +
                              " of " + std::to_string(len) + ")";
      }
    }
  }
  return found;
}

Vault::Vault(size_t bytes) : size_(bytes) {
  mapped_ = (bytes + 4095) & ~size_t{4095};
  void *p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bytes_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t *>(p);
  if (bytes_ == nullptr || madvise(bytes_, mapped_, MADV_WIPEONFORK) != 0 ||
      madvise(bytes_, mapped_, MADV_DONTDUMP) != 0)
    abort();  // a vault a child could read would make every search meaningless
}

Vault::~Vault() {
  explicit_bzero(bytes_, mapped_);
  munmap(bytes_, mapped_);
}

PlantedCopy::PlantedCopy(const uint8_t *bytes, size_t len)
    : copy_(new std::vector<uint8_t>(bytes, bytes + len)) {}

PlantedCopy::~PlantedCopy() {
  explicit_bzero(copy_->data(), copy_->size());
  delete copy_;
}

}  // namespace grndpool::test
