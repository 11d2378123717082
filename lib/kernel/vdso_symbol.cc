// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel/vdso_symbol.h"

#include <elf.h>
#include <link.h>
#include <sys/auxv.h>

#include <cstdint>
#include <cstring>

#include "lib/kernel/vdso_names.h"

namespace grndpool::kernel {
namespace {

struct VdsoImage {
  uintptr_t base = 0;  // where the kernel mapped the image
  uintptr_t bias = 0;  // base minus the first PT_LOAD's vaddr
  uintptr_t text_lo = 0, text_hi = 0;
  const ElfW(Sym) *symtab = nullptr;
  const char *strtab = nullptr;
  size_t strtab_size = 0;
  const ElfW(Versym) *versym = nullptr;
  const ElfW(Verdef) *verdef = nullptr;
  size_t symbol_count = 0;
};

// Counts symbols through DT_GNU_HASH: the highest symbol index reachable through
// any bucket chain, plus one.
size_t CountGnuHashSymbols(const uint32_t *gnu_hash) {
  const uint32_t nbuckets = gnu_hash[0], symoffset = gnu_hash[1], bloom_size = gnu_hash[2];
  const uint32_t *buckets = gnu_hash + 4 + bloom_size * (sizeof(ElfW(Addr)) / sizeof(uint32_t));
  const uint32_t *chains = buckets + nbuckets;
  uint32_t last = 0;
  for (uint32_t i = 0; i < nbuckets; ++i)
    if (buckets[i] > last) last = buckets[i];
  if (last < symoffset) return symoffset;
  while ((chains[last - symoffset] & 1) == 0) ++last;
  return last + 1;
}

bool LoadImage(VdsoImage *img) {
  img->base = getauxval(AT_SYSINFO_EHDR);
  if (img->base == 0) return false;
  const auto *ehdr = reinterpret_cast<const ElfW(Ehdr) *>(img->base);
  // The image must be of this process's own class, byte order and machine: the
  // structures below are read with this build's ElfW() layout, and the table of
  // names (vdso_names.h) is chosen by machine.
  constexpr unsigned char kClass = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
  constexpr unsigned char kData =
      __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
  if (memcmp(ehdr->e_ident, ELFMAG, SELFMAG) != 0 || ehdr->e_ident[EI_CLASS] != kClass ||
      ehdr->e_ident[EI_DATA] != kData || ehdr->e_machine != GRNDPOOL_NATIVE_ELF_MACHINE ||
      ehdr->e_phentsize != sizeof(ElfW(Phdr)))
    return false;
  const auto *phdr = reinterpret_cast<const ElfW(Phdr) *>(img->base + ehdr->e_phoff);
  const ElfW(Dyn) *dynamic = nullptr;
  bool have_load = false;
  for (int i = 0; i < ehdr->e_phnum; ++i) {
    if (phdr[i].p_type == PT_LOAD && !have_load) {
      have_load = true;
      img->bias = img->base + phdr[i].p_offset - phdr[i].p_vaddr;
      if (phdr[i].p_flags & PF_X) {
        img->text_lo = img->base + phdr[i].p_offset;
        img->text_hi = img->text_lo + phdr[i].p_memsz;
      }
    } else if (phdr[i].p_type == PT_DYNAMIC) {
      dynamic = reinterpret_cast<const ElfW(Dyn) *>(img->base + phdr[i].p_offset);
    }
  }
  if (!have_load || dynamic == nullptr || img->text_hi == 0) return false;
  const uint32_t *hash = nullptr, *gnu_hash = nullptr;
  for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; ++d) {
    const uintptr_t addr = d->d_un.d_ptr + img->bias;
    switch (d->d_tag) {
      case DT_SYMTAB:
        img->symtab = reinterpret_cast<const ElfW(Sym) *>(addr);
        break;
      case DT_STRTAB:
        img->strtab = reinterpret_cast<const char *>(addr);
        break;
      case DT_STRSZ:
        img->strtab_size = d->d_un.d_val;
        break;
      case DT_HASH:
        hash = reinterpret_cast<const uint32_t *>(addr);
        break;
      case DT_GNU_HASH:
        gnu_hash = reinterpret_cast<const uint32_t *>(addr);
        break;
      case DT_VERSYM:
        img->versym = reinterpret_cast<const ElfW(Versym) *>(addr);
        break;
      case DT_VERDEF:
        img->verdef = reinterpret_cast<const ElfW(Verdef) *>(addr);
        break;
      default:
        break;
    }
  }
  if (img->symtab == nullptr || img->strtab == nullptr || img->strtab_size == 0) return false;
  if (hash != nullptr)
    img->symbol_count = hash[1];
  else if (gnu_hash != nullptr)
    img->symbol_count = CountGnuHashSymbols(gnu_hash);
  return img->symbol_count != 0;
}

const char *StringAt(const VdsoImage &img, size_t offset) {
  return offset < img.strtab_size ? img.strtab + offset : nullptr;
}

// True when symbol `index` carries version `version` (or the image has no versions).
bool HasVersion(const VdsoImage &img, size_t index, const char *version) {
  if (img.versym == nullptr || img.verdef == nullptr) return true;
  const ElfW(Half) wanted = img.versym[index] & 0x7fff;
  for (const ElfW(Verdef) *def = img.verdef;;) {
    if ((def->vd_flags & VER_FLG_BASE) == 0 && def->vd_ndx == wanted) {
      const auto *aux = reinterpret_cast<const ElfW(Verdaux) *>(
          reinterpret_cast<const char *>(def) + def->vd_aux);
      const char *name = StringAt(img, aux->vda_name);
      return name != nullptr && strcmp(name, version) == 0;
    }
    if (def->vd_next == 0) return false;
    def =
        reinterpret_cast<const ElfW(Verdef) *>(reinterpret_cast<const char *>(def) + def->vd_next);
  }
}

}  // namespace

void *FindVdsoFunction(const char *name, const char *version) {
  VdsoImage img;
  if (!LoadImage(&img)) return nullptr;
  for (size_t i = 0; i < img.symbol_count; ++i) {
    const ElfW(Sym) &sym = img.symtab[i];
    const int bind = ELF64_ST_BIND(sym.st_info);
    if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
    if (bind != STB_GLOBAL && bind != STB_WEAK) continue;
    const char *sym_name = StringAt(img, sym.st_name);
    if (sym_name == nullptr || strcmp(sym_name, name) != 0) continue;
    if (!HasVersion(img, i, version)) continue;
    const uintptr_t addr = img.bias + sym.st_value;
    if (addr < img.text_lo || addr >= img.text_hi) continue;
    return reinterpret_cast<void *>(addr);
  }
  return nullptr;
}

}  // namespace grndpool::kernel
