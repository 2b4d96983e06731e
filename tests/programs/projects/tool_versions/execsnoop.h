/* execsnoop's shared header (libbpf-tools style): the event both halves of the tool agree on. */
#ifndef __EXECSNOOP_H
#define __EXECSNOOP_H

#define TASK_COMM_LEN 16
#define ARGSIZE 128

struct event {
	pid_t pid;
	pid_t ppid;
	uid_t uid;
	int args_size;
	char comm[TASK_COMM_LEN];
	char args[ARGSIZE];
};

#endif /* __EXECSNOOP_H */
