/*
 * pause: the sandbox ("infra") container of every pod in the local test
 * cluster. It holds the pod's namespaces open and does nothing else: it
 * sleeps until SIGINT or SIGTERM, and as the pod's PID 1 (when the pod shares
 * its process namespace) it reaps orphaned children.
 *
 * There is no registry here, so scripts/k8s-up.sh builds this file with a
 * static gcc build and imports it as registry.k8s.io/pause (the name the
 * containerd CRI plugin's sandbox_image expects).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_child(int sig)
{
	(void)sig;
	int saved = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
	errno = saved;
}

static int handle(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("pause (opencoder test cluster)");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "pause: warning: not running as PID 1\n");
	if (handle(SIGINT, on_term) || handle(SIGTERM, on_term) || handle(SIGCHLD, on_child)) {
		perror("pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
