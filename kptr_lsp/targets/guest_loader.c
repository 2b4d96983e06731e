/* kptr-lsp guest loader: /init of the target-kernel VM (see kptr_lsp/targets/vm.py).
 *
 * Statically linked against libbpf, so the initramfs needs nothing else. It mounts what
 * libbpf reads (/sys for the kernel's BTF, /proc), then serves the host over /dev/ttyS1:
 *
 *   host: "BTF\n"                          guest: "BTF <n>\n" <n bytes of /sys/kernel/btf/vmlinux>
 *   host: "LOAD <level> <logsz> <zn> <n>\n" <zn bytes: the ELF (n bytes), zlib-compressed>
 *   guest, per program: "PROG <name> <section> <err> <log n> <msgs n> <insns n>\n" <bytes...>
 *          then "END <open err> <msgs n>\n" <libbpf messages of a failed open>
 *   host: "QUIT\n"                         guest powers off
 *
 * Each program is loaded in its own bpf_object with only itself autoloaded, as the host's
 * loader does, because bpf_object__load stops at the first failing program. libbpf messages
 * are sent as records "<W|I|D><text>\0". Runtime-sized maps get the host's placeholders.
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

static void load_program(const void *data, size_t n, const char *name, unsigned level,
			 size_t log_size)
{
	char *log = NULL, section[256] = "?";
	const void *insns = NULL;
	size_t insns_len = 0;
	int err;
	for (;;) {
		msgs_len = 0;
		struct bpf_object *obj = open_obj(data, n, &err);
		if (!obj)
			break;
		struct bpf_program *p, *mine = NULL;
		bpf_object__for_each_program(p, obj) {
			int is = strcmp(bpf_program__name(p), name) == 0;
			bpf_program__set_autoload(p, is);
			if (is)
				mine = p;
		}
		snprintf(section, sizeof(section), "%s", bpf_program__section_name(mine));
		placeholders(obj);
		free(log);
		log = calloc(1, log_size);
		bpf_program__set_log_buf(mine, log, log_size);
		bpf_program__set_log_level(mine, level);
		err = bpf_object__load(obj);
		err = err < 0 ? -err : err;
		static char *copy;
		insns_len = bpf_program__insn_cnt(mine) * sizeof(struct bpf_insn);
		free(copy);
		copy = malloc(insns_len + 1);
		memcpy(copy, bpf_program__insns(mine), insns_len);
		insns = copy;
		bpf_object__close(obj);
		size_t used = strlen(log);
		if ((err == ENOSPC || used >= log_size - 1) && log_size < MAX_LOG) {
			log_size *= 4;
			continue;
		}
		break;
	}
	size_t log_len = log ? strlen(log) : 0;
	fprintf(out, "PROG %s %s %d %zu %zu %zu\n", name, section, err, log_len, msgs_len,
		insns_len);
	fwrite(log ? log : "", 1, log_len, out);
	fwrite(msgs, 1, msgs_len, out);
	fwrite(insns, 1, insns_len, out);
	fflush(out);
	free(log);
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
