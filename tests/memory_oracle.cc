// SPDX-License-Identifier: Apache-2.0
#include "tests/memory_oracle.h"

#include "tests/memory_dump.h"

#include <elf.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

extern char **environ;

namespace grndpool::test {
namespace {

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

namespace {

// In the order of enum ImageKind.
constexpr struct {
  const char *name, *short_name;
} kImageNames[] = {
    {"fork() child", "fork"},
    {"raw clone child", "raw_clone"},
    {"core dump", "core"},
};

}  // namespace

const char *ImageName(ImageKind kind) {
  return kImageNames[static_cast<int>(kind)].name;
}

const char *ImageShortName(ImageKind kind) {
  return kImageNames[static_cast<int>(kind)].short_name;
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
  while (at + sizeof(DumpRecord) <= bytes) {
    DumpRecord r;
    memcpy(&r, file + at, sizeof r);
    at += sizeof r;
    if (r.start == kDumpSkippedMark) {
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
    const pid_t pid = ForkAndDump(fd, kind == ImageKind::kRawForkChild);
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

}  // namespace grndpool::test
