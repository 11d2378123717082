// SPDX-License-Identifier: GPL-2.0
/*
 * Contract tests of getrandom(..., GRND_TIMESTAMP) and of its vDSO fast
 * path, printing TAP. Exit status 0 only if every test passes; on a
 * kernel without the GRND_TIMESTAMP series it bails out with status 1.
 *
 * Must run as root (RNDRESEEDCRNG). Built with gcc -static -O2.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/random.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef GRND_TIMESTAMP
#define GRND_TIMESTAMP	0x0008
#endif

#define TIMING_CALLS	200000
#define MIN_SPEEDUP	5.0

/*
 * Called with five arguments: stock kernels >= 6.11 export a five-argument
 * __vdso_getrandom() under the same name and version; a NULL state with a
 * zero length makes it fall back to the system call instead of using
 * random register contents. The three-argument one ignores the extra two.
 */
typedef long (*vdso_getrandom_fn)(void *buf, size_t len, unsigned int flags,
				  void *opaque_state, size_t opaque_len);

static vdso_getrandom_fn vdso_fn;
static unsigned int test_num, failures;

static void result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %u - ", ok ? "ok" : "not ok", ++test_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

/* Both return bytes written or a negative errno, as the kernel does. */
static long sys_grnd(void *buf, size_t len, unsigned int flags)
{
	long ret = syscall(SYS_getrandom, buf, len, flags);

	return ret < 0 ? -errno : ret;
}

static long vdso_grnd(void *buf, size_t len, unsigned int flags)
{
	return vdso_fn(buf, len, flags, NULL, 0);
}

static const char *errname(long ret)
{
	static char buf[64];

	if (ret >= 0)
		snprintf(buf, sizeof(buf), "%ld", ret);
	else
		snprintf(buf, sizeof(buf), "-%s", ret == -EINVAL ? "EINVAL" :
			 ret == -EFAULT ? "EFAULT" : strerror((int)-ret));
	return buf;
}

/* Defined function symbol @name of version @version in the vDSO, or NULL. */
static void *vdso_sym(const char *version, const char *name)
{
	const Elf64_Ehdr *ehdr = (const void *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Phdr *phdr;
	const Elf64_Dyn *dyn = NULL;
	const Elf64_Sym *symtab = NULL;
	const Elf64_Verdef *verdef = NULL;
	const Elf64_Versym *versym = NULL;
	const Elf32_Word *hash = NULL;
	const char *strtab = NULL;
	uintptr_t base, load_offset = 0;
	bool loaded = false;
	size_t i;

	if (!ehdr || memcmp(ehdr->e_ident, ELFMAG, SELFMAG) ||
	    ehdr->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;
	base = (uintptr_t)ehdr;
	phdr = (const void *)(base + ehdr->e_phoff);
	for (i = 0; i < ehdr->e_phnum; i++) {
		if (phdr[i].p_type == PT_LOAD && !loaded) {
			load_offset = base + phdr[i].p_offset - phdr[i].p_vaddr;
			loaded = true;
		} else if (phdr[i].p_type == PT_DYNAMIC) {
			dyn = (const void *)(base + phdr[i].p_offset);
		}
	}
	if (!loaded || !dyn)
		return NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		const void *ptr = (const void *)(dyn->d_un.d_ptr + load_offset);

		if (dyn->d_tag == DT_STRTAB)
			strtab = ptr;
		else if (dyn->d_tag == DT_SYMTAB)
			symtab = ptr;
		else if (dyn->d_tag == DT_HASH)
			hash = ptr;
		else if (dyn->d_tag == DT_VERSYM)
			versym = ptr;
		else if (dyn->d_tag == DT_VERDEF)
			verdef = ptr;
	}
	/* The x86 vDSO is linked with --hash-style=both: DT_HASH is there. */
	if (!strtab || !symtab || !hash || !versym || !verdef)
		return NULL;

	for (i = 0; i < hash[1]; i++) {
		const Elf64_Sym *sym = &symtab[i];
		const Elf64_Verdef *vd = verdef;

		if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC ||
		    sym->st_shndx == SHN_UNDEF ||
		    strcmp(strtab + sym->st_name, name))
			continue;
		for (;;) {
			if (!(vd->vd_flags & VER_FLG_BASE) &&
			    (vd->vd_ndx & 0x7fff) == (versym[i] & 0x7fff)) {
				const Elf64_Verdaux *aux =
					(const void *)((const char *)vd + vd->vd_aux);

				if (!strcmp(strtab + aux->vda_name, version))
					return (void *)(load_offset + sym->st_value);
				break;
			}
			if (!vd->vd_next)
				break;
			vd = (const void *)((const char *)vd + vd->vd_next);
		}
	}
	return NULL;
}

static int reseed(void)
{
	int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, RNDRESEEDCRNG) ? -errno : 0;
	close(fd);
	return ret;
}

/* The current cookie, as told by the system call. */
static uint64_t current_cookie(void)
{
	uint64_t cookie = 0;

	sys_grnd(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	return cookie;
}

/*
 * Run one query through both paths on identical copies of @buf and check
 * they agree on the return value and on the buffer contents. The kernel
 * may reseed on its own between the two calls (every few seconds early in
 * boot): the case is retried when the generation moved around it.
 */
static bool same_answer(const char *what, const void *buf, size_t len,
			unsigned int flags, long *ret_out)
{
	unsigned char a[64], b[64];
	long ra = 0, rb = 0;
	int attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		uint64_t before = current_cookie();

		memcpy(a, buf, len);
		memcpy(b, buf, len);
		ra = sys_grnd(len ? a : NULL, len, flags);
		rb = vdso_grnd(len ? b : NULL, len, flags);
		if (current_cookie() == before)
			break;
	}
	result(ra == rb && !memcmp(a, b, len),
	       "vDSO agrees with syscall: %s (syscall %s, vDSO %s)",
	       what, errname(ra), errname(rb));
	if (ret_out)
		*ret_out = ra;
	return ra == rb;
}

typedef long (*grnd_fn)(void *buf, size_t len, unsigned int flags);

/* The generation sequence: fresh cookie, current, reseed, stale, current. */
static void sequence(const char *path, grnd_fn fn)
{
	uint64_t cookie = 0, first;
	long ret;
	int err;

	ret = fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret == 8 && cookie != 0,
	       "%s: zero cookie is stale: returns 8 and writes a non-zero cookie (ret %s, cookie %#" PRIx64 ")",
	       path, errname(ret), cookie);
	first = cookie;

	ret = fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret == 0 && cookie == first,
	       "%s: current cookie: returns 0, buffer untouched (ret %s)",
	       path, errname(ret));

	err = reseed();
	result(!err, "%s: ioctl(RNDRESEEDCRNG) (%s)", path,
	       err ? strerror(-err) : "done");

	ret = fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret == 8 && cookie != first && cookie != 0,
	       "%s: after reseed: returns 8 and a new cookie (ret %s, %#" PRIx64 " -> %#" PRIx64 ", generation %" PRIu64 " -> %" PRIu64 ")",
	       path, errname(ret), first, cookie, ~first, ~cookie);
	first = cookie;

	ret = fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret == 0 && cookie == first,
	       "%s: new cookie is current: returns 0 (ret %s)", path,
	       errname(ret));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double ns_per_call(grnd_fn fn)
{
	uint64_t cookie = current_cookie();
	double start;
	int i;

	start = now();
	for (i = 0; i < TIMING_CALLS; i++)
		fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	return (now() - start) * 1e9 / TIMING_CALLS;
}

int main(void)
{
	unsigned char buf[64];
	uint64_t cookie = 0;
	double sys_ns, vdso_ns;
	long ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");

	/*
	 * Until the CRNG is initialized the generation is 0 and RNDRESEEDCRNG
	 * fails with ENODATA: a blocking getrandom() waits for it (early in
	 * a VM without a seed, the kernel gathers jitter entropy meanwhile).
	 */
	do
		ret = sys_grnd(buf, 1, 0);
	while (ret == -EINTR);
	result(ret == 1, "CRNG initialized (blocking getrandom returned %s)",
	       errname(ret));

	ret = sys_grnd(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret >= 0, "syscall getrandom(&cookie, 8, GRND_TIMESTAMP) is supported (ret %s)",
	       errname(ret));
	if (ret < 0) {
		printf("Bail out! this kernel lacks GRND_TIMESTAMP (getrandom returned %s): boot a kernel with kernel/patches applied\n",
		       errname(ret));
		return 1;
	}

	vdso_fn = (vdso_getrandom_fn)vdso_sym("LINUX_2.6", "__vdso_getrandom");
	result(vdso_fn != NULL, "vDSO exports __vdso_getrandom@LINUX_2.6 as a defined function (%p)",
	       (void *)vdso_fn);
	if (!vdso_fn) {
		printf("Bail out! no __vdso_getrandom in the vDSO\n");
		return 1;
	}

	sequence("syscall", sys_grnd);
	sequence("vDSO", vdso_grnd);

	/* Every case, valid or not, through both paths. */
	memset(buf, 0, sizeof(buf));
	same_answer("zero cookie, len 8", buf, 8, GRND_TIMESTAMP, NULL);
	cookie = current_cookie();
	memcpy(buf, &cookie, sizeof(cookie));
	same_answer("current cookie, len 8", buf, 8, GRND_TIMESTAMP, NULL);
	cookie = ~cookie;
	memcpy(buf, &cookie, sizeof(cookie));
	same_answer("stale cookie, len 8", buf, 8, GRND_TIMESTAMP, NULL);

	struct {
		const char *what;
		size_t len;
		unsigned int flags;
		int dirty;	/* index of a non-zero byte, or -1 */
	} einval[] = {
		{ "GRND_TIMESTAMP | GRND_NONBLOCK", 8, GRND_TIMESTAMP | GRND_NONBLOCK, -1 },
		{ "GRND_TIMESTAMP | GRND_RANDOM", 8, GRND_TIMESTAMP | GRND_RANDOM, -1 },
		{ "GRND_TIMESTAMP | GRND_INSECURE", 8, GRND_TIMESTAMP | GRND_INSECURE, -1 },
		{ "GRND_TIMESTAMP | all flags", 8, GRND_TIMESTAMP | GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE, -1 },
		{ "len 0", 0, GRND_TIMESTAMP, -1 },
		{ "len 7", 7, GRND_TIMESTAMP, -1 },
		{ "len 9", 9, GRND_TIMESTAMP, -1 },
		{ "len 16, zero tail", 16, GRND_TIMESTAMP, -1 },
		{ "len 64, zero tail", 64, GRND_TIMESTAMP, -1 },
		{ "len 16, byte 15 non-zero", 16, GRND_TIMESTAMP, 15 },
	};
	for (size_t i = 0; i < sizeof(einval) / sizeof(einval[0]); i++) {
		memset(buf, 0, sizeof(buf));
		if (einval[i].dirty >= 0)
			buf[einval[i].dirty] = 0x5a;
		same_answer(einval[i].what, buf, einval[i].len, einval[i].flags, &ret);
		result(ret == -EINVAL, "EINVAL: %s (syscall %s)", einval[i].what,
		       errname(ret));
	}

	/* The point of the vDSO: no kernel entry for the common query. */
	sys_ns = ns_per_call(sys_grnd);
	vdso_ns = ns_per_call(vdso_grnd);
	printf("# GRND_TIMESTAMP, %d calls each: syscall %.1f ns/call, vDSO %.1f ns/call, vDSO %.1fx cheaper\n",
	       TIMING_CALLS, sys_ns, vdso_ns, sys_ns / vdso_ns);
	result(sys_ns >= MIN_SPEEDUP * vdso_ns,
	       "vDSO GRND_TIMESTAMP is at least %.0fx cheaper than the syscall (%.1fx)",
	       MIN_SPEEDUP, sys_ns / vdso_ns);

	printf("1..%u\n", test_num);
	printf("# %u passed, %u failed\n", test_num - failures, failures);
	return failures ? 1 : 0;
}
