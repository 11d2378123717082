// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the grndpool test VM (static, no libc services beyond syscalls).
 *
 * Mounts /dev, /proc and /sys, runs every payload listed in /payloads.list
 * (one per line: absolute path, then space-separated arguments) with its
 * output on the console, reports each exit status and powers the VM off.
 * The host side (kernel/qemu/run-tests.sh) parses these lines:
 *
 *   GRNDPOOL-VM: payload <name> rc=<n>
 *   GRNDPOOL-VM: done pass=<a> fail=<b>
 *
 * rc is the exit status, 128+signal when killed by a signal, and 124 when
 * the payload exceeded its time limit (GRNDPOOL_PAYLOAD_TIMEOUT seconds,
 * taken from the kernel command line, default 600).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIST_PATH	"/payloads.list"
#define MAX_ARGS	64
#define TIMEOUT_RC	124

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static void do_mount(const char *src, const char *dst, const char *type)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, 0, NULL) && errno != EBUSY)
		printf("GRNDPOOL-VM: mount %s on %s: %s\n", type, dst,
		       strerror(errno));
}

/* Make the console our stdin/stdout/stderr, inherited by every payload. */
static void setup_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_payload(char **argv, unsigned int timeout)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	int status;
	pid_t pid, ret;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		printf("GRNDPOOL-VM: fork: %s\n", strerror(errno));
		return 127;
	}
	if (pid == 0) {
		/* Own process group, so a timeout kills all its processes. */
		setpgid(0, 0);
		execv(argv[0], argv);
		printf("GRNDPOOL-VM: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);

	timed_out = 0;
	sigaction(SIGALRM, &sa, NULL);
	alarm(timeout);
	do {
		ret = waitpid(pid, &status, 0);
	} while (ret < 0 && errno == EINTR && !timed_out);
	alarm(0);

	if (ret != pid) {
		printf("GRNDPOOL-VM: payload %s timed out after %u s, killing it\n",
		       argv[0], timeout);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return TIMEOUT_RC;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 127;
}

int main(void)
{
	unsigned int timeout = 600, pass = 0, fail = 0;
	const char *env;
	struct utsname uts;
	char line[4096];
	FILE *list;

	do_mount("devtmpfs", "/dev", "devtmpfs");
	setup_console();
	do_mount("proc", "/proc", "proc");
	do_mount("sysfs", "/sys", "sysfs");
	do_mount("tmpfs", "/tmp", "tmpfs");
	setvbuf(stdout, NULL, _IONBF, 0);

	env = getenv("GRNDPOOL_PAYLOAD_TIMEOUT");
	if (env && atoi(env) > 0)
		timeout = atoi(env);
	setenv("PATH", "/payloads:/bin", 1);
	setenv("HOME", "/", 1);
	setenv("TMPDIR", "/tmp", 1);

	uname(&uts);
	printf("GRNDPOOL-VM: init on Linux %s %s, %d CPUs, payload timeout %u s\n",
	       uts.release, uts.machine, get_nprocs(), timeout);

	list = fopen(LIST_PATH, "r");
	if (!list) {
		printf("GRNDPOOL-VM: %s: %s\n", LIST_PATH, strerror(errno));
		fail++;
	}
	while (list && fgets(line, sizeof(line), list)) {
		char *argv[MAX_ARGS + 1], *save = NULL, *tok, *name;
		double start;
		int argc = 0, rc;

		for (tok = strtok_r(line, " \t\r\n", &save); tok && argc < MAX_ARGS;
		     tok = strtok_r(NULL, " \t\r\n", &save))
			argv[argc++] = tok;
		argv[argc] = NULL;
		if (!argc || argv[0][0] == '#')
			continue;

		name = strrchr(argv[0], '/');
		name = name ? name + 1 : argv[0];
		printf("GRNDPOOL-VM: running %s\n", name);
		start = now();
		rc = run_payload(argv, timeout);
		printf("GRNDPOOL-VM: payload %s rc=%d (%.1f s)\n", name, rc,
		       now() - start);
		if (rc)
			fail++;
		else
			pass++;
	}
	if (list)
		fclose(list);

	printf("GRNDPOOL-VM: done pass=%u fail=%u\n", pass, fail);
	sync();
	reboot(RB_POWER_OFF);
	/* Without a power-off method, reboot: QEMU runs with -no-reboot. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
