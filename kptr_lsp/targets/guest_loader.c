/* kptr-lsp guest loader: /init of the target-kernel VM (see kptr_lsp/targets/vm.py).
 *
 * Statically linked against libbpf, so the initramfs needs nothing else. It mounts what
 * libbpf reads (/sys for the kernel's BTF, /proc), then serves the host over /dev/ttyS1:
 *
 *   host: "BTF\n"                          guest: "BTF <n>\n" <n bytes of /sys/kernel/btf/vmlinux>
 *   host: "LOAD <level> <logsz> <zn> <n>\n" <zn bytes: the ELF (n bytes), zlib-compressed>
 *   guest, per program:
 *     "PROG <name> <section> <err> <log n> <msgs n> <insns n> <cut> <log size> <verdict n>\n"
 *     <log> <msgs> <insns> <verdict log>
 *          then "END <open err> <msgs n>\n" <libbpf messages of a failed open>
 *   host: "QUIT\n"                         guest powers off
 *
 * Each program is loaded in its own bpf_object with only itself autoloaded, as the host's
 * loader does, because bpf_object__load stops at the first failing program. libbpf messages
 * are sent as records "<W|I|D><text>\0". Runtime-sized maps get the host's placeholders.
 *
 * A log longer than its buffer is handled as verify/loader.py does: the buffer grows, and
 * when the kernel kept the log's start (before 6.4: no statistics at its end) a second load
 * at BPF_LOG_STATS alone gives the kernel's verdict, its errno and libbpf's messages instead
 * of ENOSPC. <cut> says the last log did not fit its <log size> buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <zlib.h>

#define MAX_LOG (16u << 20)

static FILE *in, *out;
static char *msgs;
static size_t msgs_len, msgs_cap;

static int print_hook(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char text[4096];
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	if (msgs_len + n + 2 > msgs_cap) {
		msgs_cap = (msgs_len + n + 2) * 2;
		msgs = realloc(msgs, msgs_cap);
	}
	msgs[msgs_len++] = level == LIBBPF_WARN ? 'W' : level == LIBBPF_INFO ? 'I' : 'D';
	memcpy(msgs + msgs_len, text, n);
	msgs_len += n;
	msgs[msgs_len++] = '\0';
	return 0;
}

/* The map types kptr_lsp/verify/setup.py gives a placeholder size: the same rule on every kernel. */
static int sized_by_max_entries(int t)
{
	static const int types[] = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
				    22, 23, 25, 27, 30, 31};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i] == t)
			return 1;
	return 0;
}

static void placeholders(struct bpf_object *obj)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		enum bpf_map_type t = bpf_map__type(m);
		if (bpf_map__max_entries(m) == 0 && sized_by_max_entries(t))
			bpf_map__set_max_entries(m, t == BPF_MAP_TYPE_RINGBUF || t == 31 /* user ringbuf */
							    ? getpagesize() : 1);
		if (t == BPF_MAP_TYPE_STACK_TRACE) {
			if (bpf_map__key_size(m) == 0)
				bpf_map__set_key_size(m, 4);
			if (bpf_map__value_size(m) == 0)
				bpf_map__set_value_size(m, 127 * 8);
		}
	}
}

static struct bpf_object *open_obj(const void *data, size_t n, int *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "obj");
	struct bpf_object *obj = bpf_object__open_mem(data, n, &opts);
	*err = obj ? 0 : errno;
	return obj;
}

/* include/uapi/linux/bpf.h log_level bits */
#define LOG_LEVEL1 1u
#define LOG_LEVEL2 2u
#define LOG_STATS 4u
#define LOG_FIXED 8u
#define VERDICT_LOG (1u << 20)

struct attempt {
	int err, opened;
	char *log; /* NUL-terminated, malloc'd */
	char *msgs; /* libbpf's records, malloc'd */
	size_t msgs_len;
	char *insns;
	size_t insns_len;
	char section[256];
};

static void attempt_free(struct attempt *a)
{
	free(a->log);
	free(a->msgs);
	free(a->insns);
	memset(a, 0, sizeof(*a));
}

/* One open, load and close of the object with only `name` autoloaded. */
static struct attempt attempt(const void *data, size_t n, const char *name, unsigned level,
			      size_t log_size)
{
	struct attempt a = {0};
	snprintf(a.section, sizeof(a.section), "?");
	a.log = calloc(1, log_size);
	msgs_len = 0;
	struct bpf_object *obj = open_obj(data, n, &a.err);
	if (obj) {
		struct bpf_program *p, *mine = NULL;
		bpf_object__for_each_program(p, obj) {
			int is = strcmp(bpf_program__name(p), name) == 0;
			bpf_program__set_autoload(p, is);
			if (is)
				mine = p;
		}
		if (!mine) {
			a.err = ENOENT;
		} else {
			a.opened = 1;
			snprintf(a.section, sizeof(a.section), "%s", bpf_program__section_name(mine));
			placeholders(obj);
			bpf_program__set_log_buf(mine, a.log, log_size);
			bpf_program__set_log_level(mine, level);
			a.err = bpf_object__load(obj);
			a.err = a.err < 0 ? -a.err : a.err;
			/* read back before close: libbpf frees the instructions with the object */
			a.insns_len = bpf_program__insn_cnt(mine) * sizeof(struct bpf_insn);
			a.insns = malloc(a.insns_len + 1);
			memcpy(a.insns, bpf_program__insns(mine), a.insns_len);
		}
		bpf_object__close(obj);
	}
	a.msgs = malloc(msgs_len + 1);
	memcpy(a.msgs, msgs ? msgs : "", msgs_len);
	a.msgs_len = msgs_len;
	return a;
}

/* The log's last 4 KiB (a cut tail starts mid-line: look after a newline) */
static const char *tail_of(const char *log)
{
	size_t len = strlen(log);
	return len > 4096 ? log + len - 4096 : log;
}

static int line_starts(const char *log, const char *words)
{
	const char *t = tail_of(log);
	if (t == log && strncmp(t, words, strlen(words)) == 0)
		return 1;
	for (const char *at = t; (at = strstr(at, words)) != NULL; at++)
		if (at > t && at[-1] == '\n')
			return 1;
	return 0;
}

/* The verifier's own complexity limits, as loader.py's _gave_up: a kept end that names one
 * is the verdict, and no buffer holds the log of such a walk. */
static int gave_up(const char *log)
{
	return line_starts(log, "BPF program is too large. Processed ") ||
	       (line_starts(log, "The sequence of ") && strstr(tail_of(log), " jumps is too complex"));
}

/* The log ends with the verifier's statistics: its end was kept (6.4+ rotate). */
static int has_end(const char *log)
{
	return line_starts(log, "processed ");
}

static void load_program(const void *data, size_t n, const char *name, unsigned level,
			 size_t log_size)
{
	unsigned verdict_level = (level & ~(LOG_LEVEL1 | LOG_LEVEL2 | LOG_FIXED)) | LOG_STATS;
	struct attempt got = {0}, verdict = {0};
	int cut = 0, have_verdict = 0;
	for (;;) {
		attempt_free(&got);
		got = attempt(data, n, name, level, log_size);
		cut = got.opened && (got.err == ENOSPC || strlen(got.log) >= log_size - 1);
		if (!cut || gave_up(got.log))
			break;
		if (!has_end(got.log) && !have_verdict) {
			/* the kernel kept the log's head (before 6.4): ask for its verdict */
			verdict = attempt(data, n, name, verdict_level, VERDICT_LOG);
			have_verdict = 1;
			if (gave_up(verdict.log))
				break;
		}
		if (log_size >= MAX_LOG)
			break;
		/* ENOSPC even for a good program when the log did not fit: grow, verify again */
		log_size = log_size * 4 > MAX_LOG ? MAX_LOG : log_size * 4;
	}
	if (cut && !have_verdict && !gave_up(got.log)) {
		verdict = attempt(data, n, name, verdict_level, VERDICT_LOG);
		have_verdict = 1;
	}
	int use_verdict = cut && have_verdict && verdict.opened;
	int err = use_verdict ? verdict.err : got.err;
	const char *m = use_verdict ? verdict.msgs : got.msgs;
	size_t m_len = use_verdict ? verdict.msgs_len : got.msgs_len;
	const char *vlog = cut && have_verdict ? verdict.log : "";
	size_t log_len = strlen(got.log), vlog_len = strlen(vlog);
	fprintf(out, "PROG %s %s %d %zu %zu %zu %d %zu %zu\n", name, got.section, err, log_len, m_len,
		got.insns_len, cut, log_size, vlog_len);
	fwrite(got.log, 1, log_len, out);
	fwrite(m, 1, m_len, out);
	fwrite(got.insns ? got.insns : "", 1, got.insns_len, out);
	fwrite(vlog, 1, vlog_len, out);
	fflush(out);
	attempt_free(&got);
	attempt_free(&verdict);
}

static void load(unsigned level, size_t log_size, size_t zn, size_t n)
{
	/* zlib-compressed on the wire: the serial port moves ~100 KB/s under TCG */
	char *packed = malloc(zn ? zn : 1), *data = malloc(n ? n : 1);
	uLongf got = n;
	if (fread(packed, 1, zn, in) != zn || uncompress((Bytef *)data, &got, (Bytef *)packed, zn) != Z_OK ||
	    got != n) {
		fprintf(out, "END %d 0\n", EBADMSG);
		fflush(out);
		free(packed);
		free(data);
		return;
	}
	free(packed);
	int err;
	msgs_len = 0;
	struct bpf_object *obj = open_obj(data, n, &err);
	if (obj) {
		/* names first: each load reopens the object */
		char names[256][128];
		int count = 0;
		struct bpf_program *p;
		bpf_object__for_each_program(p, obj) {
			if (count < 256)
				snprintf(names[count++], 128, "%s", bpf_program__name(p));
		}
		bpf_object__close(obj);
		for (int i = 0; i < count; i++)
			load_program(data, n, names[i], level, log_size);
		msgs_len = 0;
	}
	fprintf(out, "END %d %zu\n", err, msgs_len);
	fwrite(msgs, 1, msgs_len, out);
	fflush(out);
	free(data);
}

static void send_btf(void)
{
	/* The guest's own kernel BTF: the same path as VMLINUX_BTF in kptr_lsp/kernel/running.py,
	 * the one home of it on the Python side. */
	FILE *f = fopen("/sys/kernel/btf/vmlinux", "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, got;
	while (f) {
		if (len + 65536 > cap)
			buf = realloc(buf, cap = (cap + 65536) * 2);
		got = fread(buf + len, 1, 65536, f);
		if (!got)
			break;
		len += got;
	}
	if (f)
		fclose(f);
	fprintf(out, "BTF %zu\n", len);
	fwrite(buf, 1, len, out);
	fflush(out);
	free(buf);
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_MEMLOCK, &inf);
	int fd = open("/dev/ttyS1", O_RDWR | O_NOCTTY);
	struct termios t;
	if (fd < 0 || tcgetattr(fd, &t) < 0)
		goto off;
	cfmakeraw(&t);
	t.c_iflag &= ~(IXON | IXOFF);
	cfsetspeed(&t, B115200);
	tcsetattr(fd, TCSANOW, &t);
	in = fdopen(fd, "rb");
	out = fdopen(dup(fd), "wb");
	libbpf_set_print(print_hook);
	struct utsname u;
	uname(&u);
	fprintf(out, "KPTR-READY %s\n", u.release);
	fflush(out);
	char line[512];
	while (fgets(line, sizeof(line), in)) {
		unsigned level;
		size_t log_size, zn, n;
		if (strcmp(line, "BTF\n") == 0)
			send_btf();
		else if (sscanf(line, "LOAD %u %zu %zu %zu", &level, &log_size, &zn, &n) == 4)
			load(level, log_size, zn, n);
		else if (strcmp(line, "QUIT\n") == 0)
			break;
	}
off:
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
