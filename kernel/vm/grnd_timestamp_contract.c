// SPDX-License-Identifier: GPL-2.0
/*
 * Contract tests of getrandom(..., GRND_TIMESTAMP) and of its vDSO fast
 * path, printing TAP. Exit status 0 only if every test passes; on a
 * kernel without the GRND_TIMESTAMP series it bails out with status 1.
 *
 * Also: that the vDSO answers without a getrandom system call (counted by
 * a ptrace tracer, with the system call path as the positive control), and
 * that an unprivileged process can already read the generation the cookie
 * is made of in the vDSO data page (what the cover letter argues).
 *
 * Must run as root (RNDRESEEDCRNG). Built with gcc -static -O2 -I <repo>:
 * the vDSO names come from lib/kernel/vdso_names.h, for every architecture.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <linux/random.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/kernel/vdso_names.h"

#ifndef GRND_TIMESTAMP
#define GRND_TIMESTAMP	0x0008
#endif

#define TIMING_CALLS	200000
#define TRACED_CALLS	1000
#define NOBODY		65534

/*
 * Called with five arguments: stock kernels >= 6.11 export a five-argument
 * getrandom() in the vDSO; a NULL state with a zero length makes it fall back
 * to the system call instead of using random register contents.
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

/* Number of symbols of a DT_GNU_HASH table: the last chain's end, plus one. */
static size_t gnu_hash_symbols(const uint32_t *gnu_hash)
{
	uint32_t nbuckets = gnu_hash[0], symoffset = gnu_hash[1], bloom = gnu_hash[2];
	const uint32_t *buckets = gnu_hash + 4 + bloom * (sizeof(ElfW(Addr)) / 4);
	const uint32_t *chains = buckets + nbuckets;
	uint32_t last = 0, i;

	for (i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chains[last - symoffset] & 1))
		last++;
	return last + 1;
}

/* Defined function symbol @name of version @version in the vDSO, or NULL. */
static void *vdso_sym(const char *version, const char *name)
{
	const ElfW(Ehdr) *ehdr = (const void *)getauxval(AT_SYSINFO_EHDR);
	const ElfW(Phdr) *phdr;
	const ElfW(Dyn) *dyn = NULL;
	const ElfW(Sym) *symtab = NULL;
	const ElfW(Verdef) *verdef = NULL;
	const ElfW(Versym) *versym = NULL;
	const uint32_t *hash = NULL, *gnu_hash = NULL;
	const char *strtab = NULL;
	uintptr_t base, load_offset = 0;
	size_t i, nsyms;
	bool loaded = false;

	if (!ehdr || memcmp(ehdr->e_ident, ELFMAG, SELFMAG) ||
	    ehdr->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    ehdr->e_machine != GRNDPOOL_NATIVE_ELF_MACHINE)
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
		else if (dyn->d_tag == DT_GNU_HASH)
			gnu_hash = ptr;
		else if (dyn->d_tag == DT_VERSYM)
			versym = ptr;
		else if (dyn->d_tag == DT_VERDEF)
			verdef = ptr;
	}
	/* x86 links its vDSO with --hash-style=both; arm64 leaves it to ld. */
	if (!strtab || !symtab || !(hash || gnu_hash) || !versym || !verdef)
		return NULL;
	nsyms = hash ? hash[1] : gnu_hash_symbols(gnu_hash);

	for (i = 0; i < nsyms; i++) {
		const ElfW(Sym) *sym = &symtab[i];
		const ElfW(Verdef) *vd = verdef;

		if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC ||
		    sym->st_shndx == SHN_UNDEF ||
		    strcmp(strtab + sym->st_name, name))
			continue;
		for (;;) {
			if (!(vd->vd_flags & VER_FLG_BASE) &&
			    (vd->vd_ndx & 0x7fff) == (versym[i] & 0x7fff)) {
				const ElfW(Verdaux) *aux =
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
 * How many times a query is asked again when the kernel reseeded on its own
 * around it (same_answer, ask_current): one such reseed is common on a slow
 * TCG guest, five in a row would mean the generation moves at every call.
 */
#define KERNEL_RESEED_RETRIES 5

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

	for (attempt = 0; attempt < KERNEL_RESEED_RETRIES; attempt++) {
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

/*
 * Asks whether *cookie, just written by the kernel, is current. The kernel
 * may reseed on its own in between (early in boot at intervals of half the
 * uptime, at least 1 s, and a TCG guest on a loaded host can lose that long
 * between two calls: a CI run saw generation 19 -> 20 here with no ioctl). A
 * newer generation written back is such a reseed: the question is asked
 * again with that cookie, at most KERNEL_RESEED_RETRIES times. An answer of
 * 8 with the same or an older generation is not a reseed, and ends the
 * asking. Returns the last answer; *asked is the cookie last asked about.
 */
static long ask_current(grnd_fn fn, uint64_t *cookie, uint64_t *asked,
			int *reseeds)
{
	long ret = 0;
	int attempt;

	for (attempt = 0; attempt < KERNEL_RESEED_RETRIES; attempt++) {
		*asked = *cookie;
		ret = fn(cookie, sizeof(*cookie), GRND_TIMESTAMP);
		if (ret != 8 || ~*cookie <= ~*asked)
			break;
		++*reseeds;
	}
	return ret;
}

/* A stand-in for the kernel, to check ask_current itself (mode below). */
static int fake_mode, fake_calls;

static long fake_grnd(void *buf, size_t len, unsigned int flags)
{
	uint64_t *cookie = buf;

	(void)len;
	(void)flags;
	fake_calls++;
	if (fake_mode == 1)	/* stale, the same cookie back: a broken kernel */
		return 8;
	if (fake_mode == 2 || fake_calls == 1) {
		/* 0: one reseed of its own first; 2: one at every call */
		*cookie = ~(~*cookie + 1);
		return 8;
	}
	return 0;
}

static void ask_current_controls(void)
{
	uint64_t cookie, asked = 0;
	int reseeds;
	long ret;

	for (fake_mode = 0; fake_mode < 3; fake_mode++) {
		fake_calls = 0;
		reseeds = 0;
		cookie = ~(uint64_t)5;
		ret = ask_current(fake_grnd, &cookie, &asked, &reseeds);
		if (fake_mode == 0)
			result(ret == 0 && cookie == asked && reseeds == 1 && ~cookie == 6,
			       "positive control: a reseed of the kernel's own between two calls is followed (ret %s, %d reseeds)",
			       errname(ret), reseeds);
		else if (fake_mode == 1)
			result(ret == 8 && reseeds == 0 && fake_calls == 1,
			       "positive control: a stale answer with no newer generation is not taken for a reseed (%d calls)",
			       fake_calls);
		else
			result(ret == 8 && fake_calls == KERNEL_RESEED_RETRIES,
			       "positive control: a generation that moves at every call still fails, after %d asks",
			       fake_calls);
	}
}

/* The generation sequence: fresh cookie, current, reseed, stale, current. */
static void sequence(const char *path, grnd_fn fn)
{
	uint64_t cookie = 0, first, asked;
	int reseeds = 0;
	long ret;
	int err;

	ret = fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret == 8 && cookie != 0,
	       "%s: zero cookie is stale: returns 8 and writes a non-zero cookie (ret %s, cookie %#" PRIx64 ")",
	       path, errname(ret), cookie);

	ret = ask_current(fn, &cookie, &asked, &reseeds);
	result(ret == 0 && cookie == asked,
	       "%s: current cookie: returns 0, buffer untouched (ret %s; %d reseeds of the kernel's own in between)",
	       path, errname(ret), reseeds);
	first = cookie;

	err = reseed();
	result(!err, "%s: ioctl(RNDRESEEDCRNG) (%s)", path,
	       err ? strerror(-err) : "done");

	ret = fn(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	result(ret == 8 && cookie != first && cookie != 0,
	       "%s: after reseed: returns 8 and a new cookie (ret %s, %#" PRIx64 " -> %#" PRIx64 ", generation %" PRIu64 " -> %" PRIu64 ")",
	       path, errname(ret), first, cookie, ~first, ~cookie);

	reseeds = 0;
	ret = ask_current(fn, &cookie, &asked, &reseeds);
	result(ret == 0 && cookie == asked,
	       "%s: new cookie is current: returns 0 (ret %s; %d reseeds of the kernel's own in between)",
	       path, errname(ret), reseeds);
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

/*
 * The child of no_syscall_test(): stops so that its tracer can attach its
 * options, then makes @vdso_calls vDSO queries (current, stale and zero
 * cookies), a getppid() that marks the end of that phase, one vDSO call that
 * must go to the system call (an EINVAL case), another marker, and
 * @vdso_calls system call queries.
 */
static void traced_child(int vdso_calls)
{
	uint64_t cookie = current_cookie(), stale = ~cookie;
	int i;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		_exit(2);
	raise(SIGSTOP);
	for (i = 0; i < vdso_calls; i++) {
		uint64_t c = i % 3 == 0 ? cookie : i % 3 == 1 ? stale : 0;

		vdso_grnd(&c, sizeof(c), GRND_TIMESTAMP);
	}
	syscall(SYS_getppid);
	vdso_grnd(&cookie, 7, GRND_TIMESTAMP);
	syscall(SYS_getppid);
	for (i = 0; i < vdso_calls; i++)
		sys_grnd(&cookie, sizeof(cookie), GRND_TIMESTAMP);
	_exit(0);
}

/*
 * What the vDSO path is for, as a property rather than a timing: it answers
 * GRND_TIMESTAMP without entering the kernel. A ptrace tracer counts the
 * child's getrandom system calls in each phase of traced_child().
 * Returns false if tracing itself failed.
 */
static bool no_syscall_test(void)
{
	long counts[3] = { 0, 0, 0 };
	int phase = 0, status;
	pid_t child;

	fflush(stdout);
	child = fork();
	if (child < 0)
		return false;
	if (!child)
		traced_child(TRACED_CALLS);
	if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status) ||
	    ptrace(PTRACE_SETOPTIONS, child, NULL, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL))
		goto fail;
	for (;;) {
		struct __ptrace_syscall_info info;

		if (ptrace(PTRACE_SYSCALL, child, NULL, NULL) ||
		    waitpid(child, &status, 0) != child)
			goto fail;
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		memset(&info, 0, sizeof(info));
		if (ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof(info), &info) <= 0)
			goto fail;
		if (info.op != PTRACE_SYSCALL_INFO_ENTRY)
			continue;
		if (info.entry.nr == SYS_getppid && phase < 2)
			phase++;
		else if (info.entry.nr == SYS_getrandom)
			counts[phase]++;
	}
	result(!counts[0],
	       "vDSO: %d GRND_TIMESTAMP queries (current, stale, zero cookies) made %ld getrandom system calls",
	       TRACED_CALLS, counts[0]);
	result(counts[1] == 1,
	       "positive control: the vDSO passing an EINVAL case to the kernel is seen (%ld system call)",
	       counts[1]);
	result(counts[2] == TRACED_CALLS,
	       "positive control: %d system call queries are counted as %ld",
	       TRACED_CALLS, counts[2]);
	return WIFEXITED(status) && !WEXITSTATUS(status);
fail:
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	return false;
}

/* The first page of the [vvar] mapping, which holds the vDSO's data. */
static const uint64_t *vvar_page(void)
{
	char line[256];
	FILE *maps = fopen("/proc/self/maps", "r");
	unsigned long start = 0;

	while (maps && fgets(line, sizeof(line), maps))
		if (strstr(line, "[vvar]") && sscanf(line, "%lx-", &start) == 1)
			break;
	if (maps)
		fclose(maps);
	return (const uint64_t *)start;
}

/*
 * The child of exposure_test(), as nobody: keeps the offsets of the first
 * [vvar] page that hold the generation (~cookie) each time the parent has
 * reseeded. Exits 0 with exactly one offset left, printed.
 */
static int exposure_child(int to_parent, int from_parent, int rounds)
{
	const uint64_t *page = vvar_page();
	size_t words = (size_t)sysconf(_SC_PAGESIZE) / sizeof(uint64_t), i, left = 0;
	static bool candidate[65536 / sizeof(uint64_t)];
	char byte;
	int round;

	if (!page || words > sizeof(candidate) || setgid(NOBODY) || setuid(NOBODY) || !getuid())
		return 2;
	for (round = 0; round < rounds; round++) {
		uint64_t generation = ~current_cookie();

		for (left = 0, i = 0; i < words; i++) {
			candidate[i] = (!round || candidate[i]) && page[i] == generation;
			left += candidate[i];
		}
		if (write(to_parent, "n", 1) != 1 || read(from_parent, &byte, 1) != 1)
			return 2;
	}
	for (i = 0; i < words; i++)
		if (candidate[i])
			printf("# the generation is the u64 at offset %#zx of [vvar], readable by uid %d\n",
			       i * sizeof(uint64_t), NOBODY);
	return left == 1 ? 0 : 1;
}

/*
 * The cover letter's exposure argument, checked: the generation that the
 * cookie is made of is already readable by every process, unprivileged ones
 * included, in the vDSO data page. A child that dropped to nobody finds it
 * and follows it across reseeds (one offset left after several).
 */
static void exposure_test(void)
{
	int status = 1, attempt, round;

	for (attempt = 0; attempt < 5 && status; attempt++) {
		int up[2], down[2];
		pid_t child;
		char byte;

		if (pipe(up) || pipe(down))
			break;
		fflush(stdout);
		child = fork();
		if (!child) {
			close(up[0]);
			close(down[1]);
			_exit(exposure_child(up[1], down[0], 4));
		}
		close(up[1]);
		close(down[0]);
		for (round = 0; round < 4 && read(up[0], &byte, 1) == 1; round++)
			if (reseed() || write(down[1], "r", 1) != 1)
				break;
		close(up[0]);
		close(down[1]);
		waitpid(child, &status, 0);
		/* 1: a scheduled reseed between a cookie and its scan; try again. */
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	result(!status,
	       "an unprivileged process reads the generation in the vDSO data page, across 4 reseeds (status %d)",
	       status);
}

int main(void)
{
	const struct grndpool_vdso_names *names;
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

	/* This architecture's name for it (lib/kernel/vdso_names.h). */
	names = grndpool_vdso_names_for(GRNDPOOL_NATIVE_ELF_MACHINE);
	if (!names || !names->c_callable) {
		printf("Bail out! vdso_names.h has no C-callable vDSO getrandom() for this architecture\n");
		return 1;
	}
	vdso_fn = (vdso_getrandom_fn)vdso_sym(names->version, names->getrandom);
	result(vdso_fn != NULL, "%s vDSO exports %s@%s as a defined function (%p)",
	       names->arch, names->getrandom, names->version, (void *)vdso_fn);
	if (!vdso_fn) {
		printf("Bail out! no %s in the vDSO\n", names->getrandom);
		return 1;
	}

	ask_current_controls();
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
	result(no_syscall_test(), "the traced child ran to the end");
	exposure_test();

	/* Reported, not asserted: under TCG on a loaded host a timing proves nothing. */
	sys_ns = ns_per_call(sys_grnd);
	vdso_ns = ns_per_call(vdso_grnd);
	printf("# GRND_TIMESTAMP, %d calls each: syscall %.1f ns/call, vDSO %.1f ns/call, vDSO %.1fx cheaper\n",
	       TIMING_CALLS, sys_ns, vdso_ns, sys_ns / vdso_ns);

	printf("1..%u\n", test_num);
	printf("# %u passed, %u failed\n", test_num - failures, failures);
	return failures ? 1 : 0;
}
